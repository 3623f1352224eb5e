#!/usr/bin/env python3
"""RFC 7143 13.17 (MaxOutstandingR2T, a minimum) and 6.2.2; UNH-IOL Login Phase #19.1
(MaxOutstandingR2T). An answer above the offer (4 to 1) ends the login."""
import conformance as c


def main(t):
    tgt = t.target(answers={"MaxOutstandingR2T": "4"})
    c.expect_login_failure(t, tgt, r"MaxOutstandingR2T=4")


c.run(main)
