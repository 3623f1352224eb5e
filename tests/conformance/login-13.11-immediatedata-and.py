#!/usr/bin/env python3
"""RFC 7143 13.11 (ImmediateData, a Boolean AND) and 6.2.2; UNH-IOL Login Phase #7.5 (Login
Request ImmediateData Invalid Value). To an offer of ImmediateData=No the only valid answer
is No; a target that answers Yes gets no login."""
import conformance as c


def main(t):
    tgt = t.target(answers={"ImmediateData": "Yes"})
    c.expect_login_failure(t, tgt, r"ImmediateData=Yes", keys="AuthMethod=None;ImmediateData=No")


c.run(main)
