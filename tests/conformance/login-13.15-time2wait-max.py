#!/usr/bin/env python3
"""RFC 7143 13.15 (DefaultTime2Wait, a maximum) and 6.2.2; UNH-IOL Login Phase #18.1
(DefaultTime2Wait). An answer below the offer (0 to 2) ends the login."""
import conformance as c


def main(t):
    tgt = t.target(answers={"DefaultTime2Wait": "0"})
    c.expect_login_failure(t, tgt, r"DefaultTime2Wait=0")


c.run(main)
