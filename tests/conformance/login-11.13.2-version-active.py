#!/usr/bin/env python3
"""RFC 7143 11.12.4 and 11.13.2 (Version-max, Version-active). The initiator offers version
0 only; a Login Response whose Version-active is another version is not a login it can
use: it ends the login with the reason."""
import conformance as c


class V1(c.Target):
    def login_hook(self, conn, req, keys, rsp):
        rsp.version_active = 1
        rsp.version_max = 1


def main(t):
    tgt = t.target(V1)
    c.expect_login_failure(t, tgt, r"version 1")


c.run(main)
