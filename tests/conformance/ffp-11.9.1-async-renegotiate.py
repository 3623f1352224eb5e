#!/usr/bin/env python3
"""RFC 7143 11.9.1 (AsyncEvent 4: the target requests parameter negotiation, which the
initiator meets with a Text Request or a Logout within Parameter3 seconds); UNH-IOL Full
Feature Phase #20.4. The initiator logs out within the time and logs in again, negotiating
afresh, and I/O goes on."""
import time
import conformance as c


def main(t):
    tgt = t.target(prefs=c.QUICK_PREFS)
    d = t.daemon(tgt, keys="AuthMethod=None" + c.QUICK)
    d.start()
    sent = time.monotonic()
    tgt.current().send_async(4, 0, 0, 5)
    t.wait(lambda: tgt.received(c.OP_LOGOUT_REQ) or tgt.received(c.OP_TEXT_REQ), 6,
           "neither a Text Request nor a Logout within 5 s")
    d.check_read(0, 4096, t.expect(0, 4096))
    later = [p for p in tgt.logins() if p.time > sent and p.key("HeaderDigest")]
    t.check(later, "no new negotiation after the request")


c.run(main)
