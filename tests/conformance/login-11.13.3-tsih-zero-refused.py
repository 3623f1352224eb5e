#!/usr/bin/env python3
"""RFC 7143 11.13.3 (TSIH in the Login Response); UNH-IOL Login Phase #2.2 (TSIH Invalid
Value). The final Login Response of a leading login must carry the new session's TSIH, which
is never 0; an initiator given TSIH 0 must not take the session into use."""
import conformance as c


class ZeroTsih(c.Target):
    def login_hook(self, conn, req, keys, rsp):
        if rsp.transit and rsp.nsg == 3:
            rsp.tsih = 0


def main(t):
    tgt = t.target(ZeroTsih)
    c.expect_login_failure(t, tgt, r"TSIH 0")


c.run(main)
