#!/usr/bin/env python3
"""RFC 7143 13.14 (FirstBurstLength) and 6.2.2 (Simple-Value Negotiations: the result of a
minimum key is at most the offer); UNH-IOL Login Phase #7.4 (FirstBurstLength Value Too
High). An answer above the initiator's offer ends the login with the reason."""
import conformance as c


def main(t):
    tgt = t.target(answers={"FirstBurstLength": "524288"})
    c.expect_login_failure(t, tgt, r"FirstBurstLength=524288")


c.run(main)
