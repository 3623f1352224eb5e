#!/usr/bin/env python3
"""RFC 7143 11.13.5 (Status-Class 2, initiator error) and 6.3.6. A login refused with
"authentication failure" ends: the initiator sends nothing more on that connection, says the
reason in words, and mounts nothing."""
import conformance as c


class Refuse(c.Target):
    def login_hook(self, conn, req, keys, rsp):
        rsp.status = (0x02, 0x01)
        rsp.keys = []
        rsp.transit = False


def main(t):
    tgt = t.target(Refuse)
    c.expect_login_failure(t, tgt, r"authentication failure")
    reqs = [p for p in tgt.logins() if p.conn == 1]
    t.check(len(reqs) == 1, "%d Login Requests on the refused connection" % len(reqs))


c.run(main)
