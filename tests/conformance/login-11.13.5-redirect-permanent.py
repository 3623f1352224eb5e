#!/usr/bin/env python3
"""RFC 7143 11.13.5 (Status-Class 1, detail 2: target moved permanently) and 13.8. The
initiator follows a permanent redirection as well and logs in at the new address."""
import conformance as c


def main(t):
    real = t.target()
    front = t.target(redirect=("127.0.0.1", real.port, 2))
    d = t.daemon(front)
    d.start()
    t.check(real.logins(), "no login reached the redirected-to portal")
    d.check_read(0, 4096, t.expect(0, 4096))


c.run(main)
