#!/usr/bin/env python3
"""RFC 7143 11.9.1 (AsyncEvent 1: the target requests a logout) and 11.14; UNH-IOL Full Feature
Phase #14.1 (Async Logout Request) and #20.1. The initiator logs out within Parameter3
seconds, with a Logout Request that names its CID, then logs in again, and I/O goes on."""
import time
import conformance as c


def main(t):
    tgt = t.target(prefs=c.QUICK_PREFS)
    d = t.daemon(tgt, keys="AuthMethod=None" + c.QUICK)
    d.start()
    conn = tgt.current()
    sent = time.monotonic()
    conn.send_async(1, 0, 0, 5)
    t.wait(lambda: tgt.received(c.OP_LOGOUT_REQ), 6, "no Logout Request within 5 s")
    lo = tgt.received(c.OP_LOGOUT_REQ)[0]
    t.check(lo.time - sent <= 5, "the Logout came after %.1f s" % (lo.time - sent))
    t.check(lo.cid == conn.cid, "Logout for CID %d, the connection is %d" % (lo.cid, conn.cid))
    t.check(lo.reason in (0, 1), "Logout reason %d" % lo.reason)
    d.check_read(0, 8192, t.expect(0, 8192))
    t.check(len([p for p in tgt.logins() if p.tsih == 0]) >= 2 or
            len(tgt.conns) >= 2, "the initiator did not log in again")


c.run(main)
