#!/usr/bin/env python3
"""RFC 7143 12.1.3 (CHAP, mutual); UNH-IOL CHAP suite (CHAP_R invalid value). A target whose
answer to the initiator's challenge is wrong is not authenticated: the initiator ends the
login, with the reason, and mounts nothing."""
import conformance as c

USER, SECRET, TUSER, TSECRET = "conf-user", "conformance-secret-5", "conf-target", \
    "conformance-secret-6"


def main(t):
    tgt = t.target(chap={"user": USER, "secret": SECRET, "target_user": TUSER,
                         "target_secret": TSECRET, "wrong_target_response": True})
    d = c.expect_login_failure(t, tgt, r"CHAP|authenticat", keys="AuthMethod=CHAP",
                               auth=["0 1 %s %s %s %s" % (USER, SECRET, TUSER, TSECRET)])
    t.check(SECRET not in d.log() and TSECRET not in d.log(), "a secret in the daemon's log")


c.run(main)
