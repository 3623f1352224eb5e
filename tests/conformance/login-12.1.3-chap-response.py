#!/usr/bin/env python3
"""RFC 7143 12.1.3 (CHAP); UNH-IOL CHAP suite for initiators (CHAP_N, CHAP_R valid values).
A target that requires CHAP gets the algorithm list (with MD5), then CHAP_N set to the
configured user and CHAP_R = MD5(CHAP_I, secret, CHAP_C), which it checks; the login then
completes."""
import conformance as c

USER, SECRET = "conformance-user", "conformance-secret-1"


def main(t):
    tgt = t.target(chap={"user": USER, "secret": SECRET, "alg": 5})
    d = t.daemon(tgt, keys="AuthMethod=CHAP", auth=["0 0 %s %s" % (USER, SECRET)])
    d.start()
    algs = [p.key("CHAP_A") for p in tgt.logins() if p.key("CHAP_A")]
    t.check(algs and "5" in algs[0].split(","), "CHAP_A offered as %r, without MD5" % algs)
    names = [p.key("CHAP_N") for p in tgt.logins() if p.key("CHAP_N")]
    t.check(names == [USER], "CHAP_N %r" % names)
    d.check_read(0, 4096, t.expect(0, 4096))


c.run(main)
