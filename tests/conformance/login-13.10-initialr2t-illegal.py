#!/usr/bin/env python3
"""RFC 7143 13.10 (InitialR2T, a Boolean OR) and 6.2.2; UNH-IOL Login Phase #13.3 (Illegal
Boolean Negotiation). To an offer of InitialR2T=Yes the only valid answer is Yes; a target that
answers No gets no login."""
import conformance as c


def main(t):
    tgt = t.target(answers={"InitialR2T": "No"})
    c.expect_login_failure(t, tgt, r"InitialR2T=No", keys="AuthMethod=None;InitialR2T=Yes")


c.run(main)
