#!/usr/bin/env python3
"""RFC 7143 11.18 and 11.19; UNH-IOL Full Feature Phase #15.2 (NOP-Out Ping Request). The
initiator pings an idle connection (NOP-Out with a valid ITT); the target's NOP-In with the
same ITT answers it, and the connection stays up through several pings."""
import conformance as c


def main(t):
    tgt = t.target()
    d = t.daemon(tgt, attrs="nopout_timeout=1;nopout_response_timeout=2;login_timeout=5")
    d.start()
    t.wait(lambda: len(tgt.sent(c.OP_NOP_IN)) >= 2, 8, "fewer than 2 pings answered in 8 s of "
           "silence")
    pings = [p for p in tgt.received(c.OP_NOP_OUT) if p.itt != c.RSVD]
    t.check(len(set(p.itt for p in pings)) == len(pings), "two pings with the same ITT")
    t.check(len(tgt.conns) == 1, "the connection was replaced although every ping was answered")
    d.check_read(0, 4096, t.expect(0, 4096))


c.run(main)
