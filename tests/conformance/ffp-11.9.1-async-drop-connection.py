#!/usr/bin/env python3
"""RFC 7143 11.9.1 (AsyncEvent 2: the target drops this connection; Parameter2 is the
Time2Wait); UNH-IOL Full Feature Phase #20.2. After the message and the drop, the initiator
waits at least Parameter2 seconds before it logs in again, and the LUN then reads."""
import time
import conformance as c


def main(t):
    tgt = t.target(prefs=c.QUICK_PREFS)
    d = t.daemon(tgt, keys="AuthMethod=None" + c.QUICK)
    d.start()
    conn = tgt.current()
    conn.send_async(2, conn.cid, 2, 0)
    dropped = time.monotonic()
    conn.close()
    d.check_read(0, 4096, t.expect(0, 4096), timeout=30)
    later = [p for p in tgt.logins() if p.time > dropped]
    t.check(later, "no login after the drop")
    t.check(later[0].time - dropped >= 2, "logged in again %.2f s after a drop that asked "
            "for 2" % (later[0].time - dropped))


c.run(main)
