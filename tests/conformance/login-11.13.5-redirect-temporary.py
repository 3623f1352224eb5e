#!/usr/bin/env python3
"""RFC 7143 11.13.5 (Status-Class 1, redirection) and 13.8 (TargetAddress). A portal that
answers "target moved temporarily" with a TargetAddress sends the initiator there: it logs in
at that address and the LUN reads as that target holds it."""
import conformance as c


def main(t):
    real = t.target()
    front = t.target(redirect=("127.0.0.1", real.port, 1))
    d = t.daemon(front)
    d.start()
    st = front.sent(c.OP_LOGIN_RSP)[0]
    t.check((st.status_class, st.status_detail) == (1, 1), "the front portal did not redirect")
    t.check([p for p in real.logins()], "no login reached the redirected-to portal")
    t.check(d.said(r"following it to 127.0.0.1:%d" % real.port), "the log does not say where "
            "the login went")
    d.check_read(0, 65536, t.expect(0, 65536))


c.run(main)
