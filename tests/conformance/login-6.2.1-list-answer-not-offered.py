#!/usr/bin/env python3
"""RFC 7143 6.2.1 (List Negotiations): the responder's answer is one value of the offered
list; UNH-IOL Login Phase #7.2. A target that answers HeaderDigest=CRC32C to an offer of None
alone breaks the negotiation: the initiator ends the login with the reason."""
import conformance as c


def main(t):
    tgt = t.target(answers={"HeaderDigest": "CRC32C"})
    c.expect_login_failure(t, tgt, r"HeaderDigest=CRC32C, which is not one of the offered")


c.run(main)
