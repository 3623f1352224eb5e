#!/usr/bin/env python3
"""RFC 7143 11.9.1 (AsyncEvent 3: the target drops all the session's connections; Parameter2
is the Time2Wait); UNH-IOL Full Feature Phase #20.3. The initiator waits at least Parameter2
seconds before it logs in again, and the LUN then reads."""
import time
import conformance as c


def main(t):
    tgt = t.target(prefs=c.QUICK_PREFS)
    d = t.daemon(tgt, keys="AuthMethod=None" + c.QUICK)
    d.start()
    conn = tgt.current()
    conn.send_async(3, 0, 2, 0)
    dropped = time.monotonic()
    conn.close()
    d.check_read(4096, 4096, t.expect(4096, 4096), timeout=30)
    later = [p for p in tgt.logins() if p.time > dropped]
    t.check(later and later[0].time - dropped >= 2, "logged in again too soon after the drop")


c.run(main)
