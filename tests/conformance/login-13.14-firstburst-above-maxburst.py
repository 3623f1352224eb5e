#!/usr/bin/env python3
"""RFC 7143 13.14 (FirstBurstLength must not exceed MaxBurstLength); UNH-IOL Login Phase #16.2
(FirstBurstLength Greater Than MaxBurstLength). Answers that leave FirstBurstLength above
MaxBurstLength are an invalid negotiation: the initiator ends the login."""
import conformance as c


def main(t):
    tgt = t.target(answers={"MaxBurstLength": "16384", "FirstBurstLength": "32768"})
    c.expect_login_failure(t, tgt, r"FirstBurstLength 32768 exceeds MaxBurstLength 16384")


c.run(main)
