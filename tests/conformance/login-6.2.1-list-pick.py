#!/usr/bin/env python3
"""RFC 7143 6.2.1 (List Negotiations) and 13.1; UNH-IOL Login Phase #7.2 (Login Request List
Negotiation) and #9.2. An initiator that accepts CRC32C or None offers the list in its order
of preference; the target may pick any value of it, and the initiator then works with the
one picked (here None: no digests on the wire)."""
import conformance as c


def main(t):
    tgt = t.target(digests=False)
    d = t.daemon(tgt, keys="AuthMethod=None;HeaderDigest=CRC32C,None;DataDigest=CRC32C,None")
    d.start()
    offer = [p for p in tgt.logins() if p.key("HeaderDigest")][0]
    t.check(offer.key("HeaderDigest") == "CRC32C,None", "HeaderDigest offered as %r" %
            offer.key("HeaderDigest"))
    t.check(offer.key("DataDigest") == "CRC32C,None", "DataDigest offered as %r" %
            offer.key("DataDigest"))
    data = c.pattern(65536)
    d.write(65536, data)
    d.check_read(65536, 65536, data)


c.run(main)
