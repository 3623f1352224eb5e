#!/usr/bin/env python3
"""RFC 7143 11.12.9 (ExpStatSN in the Login Request) and 11.13.4; UNH-IOL Login Phase #5.1
(ExpStatSN). Every Login Request after the first acknowledges the last Login Response's StatSN
with ExpStatSN = StatSN + 1 (the numbering starts at a random value)."""
import conformance as c


def main(t):
    tgt = t.target(delay_transit=2)
    d = t.daemon(tgt)
    d.start()
    reqs, rsps = tgt.logins(), tgt.sent(c.OP_LOGIN_RSP)
    t.check(len(reqs) >= 4, "only %d Login Requests" % len(reqs))
    for i in range(1, len(reqs)):
        want = (rsps[i - 1].stat_sn + 1) & 0xFFFFFFFF
        t.check(reqs[i].exp_stat_sn == want, "Login Request %d carries ExpStatSN 0x%08x, "
                "0x%08x was due" % (i + 1, reqs[i].exp_stat_sn, want))


c.run(main)
