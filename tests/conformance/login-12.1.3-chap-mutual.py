#!/usr/bin/env python3
"""RFC 7143 12.1.3 (CHAP, mutual). With a target secret configured, the initiator sends its
own CHAP_I and CHAP_C with its response, and checks the target's CHAP_N and CHAP_R before
it goes on; a right answer gives a login."""
import conformance as c

USER, SECRET, TUSER, TSECRET = "conf-user", "conformance-secret-3", "conf-target", \
    "conformance-secret-4"


def main(t):
    tgt = t.target(chap={"user": USER, "secret": SECRET, "target_user": TUSER,
                         "target_secret": TSECRET})
    d = t.daemon(tgt, keys="AuthMethod=CHAP",
                 auth=["0 1 %s %s %s %s" % (USER, SECRET, TUSER, TSECRET)])
    d.start()
    req = [p for p in tgt.logins() if p.key("CHAP_R")][0]
    t.check(req.key("CHAP_I") is not None and req.key("CHAP_C") is not None,
            "no CHAP_I/CHAP_C with the initiator's response")
    d.check_read(0, 4096, t.expect(0, 4096))


c.run(main)
