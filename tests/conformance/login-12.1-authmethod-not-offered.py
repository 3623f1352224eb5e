#!/usr/bin/env python3
"""RFC 7143 12.1 (AuthMethod) and 6.2.1; UNH-IOL Login Phase #7.3 (Login Request Invalid
AuthMethod). A target that answers AuthMethod with a method the initiator did not offer (KRB5
to an offer of None) gets no login: the initiator ends it with the reason."""
import conformance as c


def main(t):
    tgt = t.target(answers={"AuthMethod": "KRB5"})
    c.expect_login_failure(t, tgt, r"AuthMethod")


c.run(main)
