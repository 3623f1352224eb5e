#!/usr/bin/env python3
"""RFC 7143 6.2 (Text Mode Negotiation); UNH-IOL Login Phase #6.3 (Negotiate Once,
ImmediateData in the Same PDU). A Login Response that answers the same key twice is a
negotiation error: the initiator ends the login."""
import conformance as c


class Twice(c.Target):
    def login_hook(self, conn, req, keys, rsp):
        if req.csg == 1 and any(k == "ImmediateData" for k, _ in rsp.keys):
            rsp.keys.append(("ImmediateData", "No"))


def main(t):
    tgt = t.target(Twice)
    c.expect_login_failure(t, tgt, r"ImmediateData.*(twice|more than once)")


c.run(main)
