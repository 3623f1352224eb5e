#!/usr/bin/env python3
"""RFC 7143 12.1 (AuthMethod); UNH-IOL Login Phase #22.1 (AuthMethod). An initiator without
CHAP secrets offers AuthMethod=None only, in the security stage."""
import conformance as c


def main(t):
    tgt = t.target()
    d = t.daemon(tgt, keys="AuthMethod=CHAP,None")
    d.start()
    offers = [(p.csg, p.key("AuthMethod")) for p in tgt.logins() if p.key("AuthMethod")]
    t.check(offers == [(0, "None")], "AuthMethod offered as %r" % offers)


c.run(main)
