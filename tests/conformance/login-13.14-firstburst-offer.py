#!/usr/bin/env python3
"""RFC 7143 13.14 (FirstBurstLength <= MaxBurstLength); UNH-IOL Login Phase #16.3
(FirstBurstLength Offered by DUT). An initiator configured with MaxBurstLength=131072 offers a
FirstBurstLength no larger than that."""
import conformance as c


def main(t):
    tgt = t.target()
    d = t.daemon(tgt, keys="AuthMethod=None;MaxBurstLength=131072")
    d.start()
    req = [p for p in tgt.logins() if p.key("FirstBurstLength")][0]
    fbl, mbl = int(req.key("FirstBurstLength"), 0), int(req.key("MaxBurstLength"), 0)
    t.check(mbl == 131072, "MaxBurstLength offered as %d" % mbl)
    t.check(fbl <= mbl, "FirstBurstLength %d offered above MaxBurstLength %d" % (fbl, mbl))


c.run(main)
