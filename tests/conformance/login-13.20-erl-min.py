#!/usr/bin/env python3
"""RFC 7143 13.20 (ErrorRecoveryLevel, a minimum) and 6.2.2; UNH-IOL Login Phase #20.1
(ErrorRecoveryLevel). To an offer of 0 a target may not answer 2: the initiator ends the
login rather than work at a level it did not offer."""
import conformance as c


def main(t):
    tgt = t.target(answers={"ErrorRecoveryLevel": "2"})
    c.expect_login_failure(t, tgt, r"ErrorRecoveryLevel=2")


c.run(main)
