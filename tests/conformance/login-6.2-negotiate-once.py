#!/usr/bin/env python3
"""RFC 7143 6.2 (Text Mode Negotiation): neither side negotiates or declares a key more than
once in a login; UNH-IOL Login Phase #6.1 (Negotiate Once). Over a login that takes several
exchanges in each stage, no key is sent twice by the initiator."""
import conformance as c


def main(t):
    tgt = t.target(delay_transit=2)
    d = t.daemon(tgt)
    d.start()
    seen = {}
    for p in tgt.logins():
        for k, _ in p.keys:
            seen[k] = seen.get(k, 0) + 1
    twice = sorted(k for k, n in seen.items() if n > 1)
    t.check(not twice, "keys sent more than once: %s" % ", ".join(twice))
    t.check(len(seen) >= 10, "only %d keys offered" % len(seen))


c.run(main)
