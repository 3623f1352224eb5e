#!/usr/bin/env python3
"""RFC 7143 11.13 (Login Response: when the C bit is set, T must be 0). A Login Response with
both bits set is a protocol error: the initiator ends the login with the reason."""
import conformance as c


class Both(c.Target):
    def login_hook(self, conn, req, keys, rsp):
        if rsp.transit and rsp.nsg == 3:
            rsp.cont = True


def main(t):
    tgt = t.target(Both)
    c.expect_login_failure(t, tgt, r"both the T and C bits")


c.run(main)
