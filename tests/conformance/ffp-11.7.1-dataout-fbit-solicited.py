#!/usr/bin/env python3
"""RFC 7143 11.7.1 and 11.8 (R2T); UNH-IOL Full Feature Phase #11.2.2 (Data-out F bit with
Solicited Data). The Data-Out PDUs that answer one R2T end with exactly one F bit, on the
last of them."""
import conformance as c


def main(t):
    tgt = t.target(mrdsl=4096, r2t_chunk=16384)
    d = t.daemon(tgt, keys="AuthMethod=None;ImmediateData=No;InitialR2T=Yes")
    d.start()
    d.write(0, c.pattern(65536))
    for r in tgt.sent(c.OP_R2T):
        fs = [int(p.final) for p in tgt.received(c.OP_DATA_OUT) if p.ttt == r.ttt]
        t.check(fs == [0, 0, 0, 1], "F bits %s for R2T 0x%08x" % (fs, r.ttt))


c.run(main)
