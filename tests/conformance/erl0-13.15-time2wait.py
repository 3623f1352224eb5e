#!/usr/bin/env python3
"""RFC 7143 13.15 (DefaultTime2Wait: the minimum wait before a new connection after a
failure) and 6.3.5. The initiator offers DefaultTime2Wait=0, the target 2 (the larger value
wins); after the connection drops, the initiator logs in again no sooner than 2 s later."""
import time
import conformance as c


def main(t):
    tgt = t.target(prefs={"DefaultTime2Wait": "2"})
    d = t.daemon(tgt, keys="AuthMethod=None" + c.QUICK)
    d.start()
    dropped = time.monotonic()
    tgt.current().close()
    d.check_read(0, 4096, t.expect(0, 4096), timeout=30)
    later = [p for p in tgt.logins() if p.time > dropped]
    t.check(later and later[0].time - dropped >= 2, "logged in again %.2f s after the drop" %
            (later[0].time - dropped if later else -1))


c.run(main)
