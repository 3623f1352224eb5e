#!/usr/bin/env python3
"""RFC 7143 6.2 (Text Mode Negotiation): a key is negotiated once; UNH-IOL Login Phase #6.2
(Negotiate Once, ImmediateData in Separate PDUs). A target that answers ImmediateData a
second time, in a later Login Response, breaks the negotiation: the initiator must end the
login rather than take either value."""
import conformance as c


class Twice(c.Target):
    def login_hook(self, conn, req, keys, rsp):
        if req.csg == 1 and not any(k == "ImmediateData" for k, _ in rsp.keys):
            rsp.keys.append(("ImmediateData", "No"))


def main(t):
    tgt = t.target(Twice, delay_transit=1)
    c.expect_login_failure(t, tgt, r"ImmediateData.*(twice|more than once)")


c.run(main)
