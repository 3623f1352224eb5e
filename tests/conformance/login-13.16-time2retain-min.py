#!/usr/bin/env python3
"""RFC 7143 13.16 (DefaultTime2Retain, a minimum) and 6.2.2; UNH-IOL Login Phase #17.1
(DefaultTime2Retain). An answer above the offer (30 to 20) ends the login."""
import conformance as c


def main(t):
    tgt = t.target(answers={"DefaultTime2Retain": "30"})
    c.expect_login_failure(t, tgt, r"DefaultTime2Retain=30")


c.run(main)
