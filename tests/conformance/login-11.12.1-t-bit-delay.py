#!/usr/bin/env python3
"""RFC 7143 11.12.1 (T bit), 11.13.6 and 6.3; UNH-IOL Login Phase #3.1 (T-Bit) and #3.2
(T-Bit Delay). When the target answers a request for a stage transition with T clear, the
initiator stays in the current stage (CSG unchanged) and asks again, until the target agrees;
it never acts as if it had moved on."""
import conformance as c


def main(t):
    tgt = t.target(delay_transit=3)
    d = t.daemon(tgt)
    d.start()
    op = [p for p in tgt.logins() if p.csg == 1]
    t.check(len(op) >= 4, "%d operational-stage requests for 3 held-back transitions" % len(op))
    rsps = tgt.sent(c.OP_LOGIN_RSP)
    for req, rsp in zip(tgt.logins(), rsps):
        pass
    held = [r for r in rsps if r.csg == 1 and not r.transit]
    t.check(len(held) == 3, "the target held back the transition %d times, not 3" % len(held))
    t.check(all(p.csg in (0, 1) for p in tgt.logins()), "a request for stage 3 before the "
            "target agreed")
    d.check_read(0, 4096, t.expect(0, 4096))


c.run(main)
