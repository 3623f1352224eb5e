#!/usr/bin/env python3
"""RFC 7143 12.1.3 (CHAP; CHAP_A values from the IANA registry). When the target picks
SHA-256 (7) from the initiator's list, the initiator answers with a SHA-256 response, which
the target checks."""
import conformance as c

USER, SECRET = "conformance-user", "conformance-secret-2"


def main(t):
    tgt = t.target(chap={"user": USER, "secret": SECRET, "alg": 7})
    d = t.daemon(tgt, keys="AuthMethod=CHAP", auth=["0 0 %s %s" % (USER, SECRET)])
    d.start()
    r = [p.key("CHAP_R") for p in tgt.logins() if p.key("CHAP_R")][0]
    t.check(len(c.decode_chap_binary(r)) == 32, "CHAP_R of %d bytes, not a SHA-256 digest" %
            len(c.decode_chap_binary(r)))


c.run(main)
