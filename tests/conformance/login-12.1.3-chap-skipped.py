#!/usr/bin/env python3
"""RFC 7143 12.1.3 and 6.3.2 (iSCSI Security Negotiation). A target that answers
AuthMethod=CHAP and then leaves the security stage without the CHAP exchange has not
authenticated the initiator (nor, when mutual, itself): the initiator ends the login."""
import conformance as c

USER, SECRET = "conf-user", "conformance-secret-7"


def main(t):
    tgt = t.target(chap={"user": USER, "secret": SECRET, "skip": True})
    c.expect_login_failure(t, tgt, r"before CHAP", keys="AuthMethod=CHAP",
                           auth=["0 0 %s %s" % (USER, SECRET)])


c.run(main)
