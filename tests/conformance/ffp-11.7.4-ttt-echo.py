#!/usr/bin/env python3
"""RFC 7143 11.7.4 (Target Transfer Tag of Data-Out) and 11.8; UNH-IOL Full Feature Phase #9.1
(Target Transfer Tag) and #12.1 (Target Transfer Tag for R2T). Each Data-Out that answers an
R2T carries the R2T's TTT, the command's ITT and the command's LUN (here LUN 1)."""
import conformance as c


def main(t):
    tgt = t.target(luns=(0, 1), r2t_chunk=16384)
    d = t.daemon(tgt, keys="AuthMethod=None;ImmediateData=No;InitialR2T=Yes")
    d.start()
    d.write(0, c.pattern(65536), lun=1)
    cmd = tgt.commands(0x2A, 0x8A)[-1]
    t.check(cmd.lun_number == 1, "the WRITE went to LUN %s" % cmd.lun_number)
    r2ts = {r.ttt: r for r in tgt.sent(c.OP_R2T) if r.itt == cmd.itt}
    outs = tgt.received(c.OP_DATA_OUT)
    t.check(outs, "no Data-Out")
    for p in outs:
        t.check(p.ttt in r2ts, "Data-Out with TTT 0x%08x, no R2T gave it" % p.ttt)
        t.check(p.itt == cmd.itt, "Data-Out with ITT 0x%08x" % p.itt)
        t.check(p.lun == cmd.lun, "Data-Out with LUN %s" % p.lun.hex())


c.run(main)
