#!/usr/bin/env python3
"""RFC 7143 11.13.4 (StatSN) and 11.12.9 (ExpStatSN); UNH-IOL Login Phase #4.1 (StatSN
Zero). A target whose first Login Response carries StatSN 0 is acknowledged with ExpStatSN 1
in the next request, and the numbering goes on from there into full feature phase."""
import conformance as c


def main(t):
    tgt = t.target(stat_sn=0, delay_transit=1)
    d = t.daemon(tgt)
    d.start()
    rsps = tgt.sent(c.OP_LOGIN_RSP)
    reqs = tgt.logins()
    t.check(rsps[0].stat_sn == 0, "the scripted target did not start at StatSN 0")
    t.check(reqs[1].exp_stat_sn == 1, "the request after StatSN 0 carries ExpStatSN 0x%08x, "
            "not 1" % reqs[1].exp_stat_sn)
    cmd = tgt.received(c.OP_SCSI_CMD)[0]
    t.check(cmd.exp_stat_sn == (rsps[-1].stat_sn + 1) & 0xFFFFFFFF,
            "the first command carries ExpStatSN 0x%08x after a final StatSN of 0x%08x" %
            (cmd.exp_stat_sn, rsps[-1].stat_sn))
    d.check_read(0, 4096, t.expect(0, 4096))


c.run(main)
