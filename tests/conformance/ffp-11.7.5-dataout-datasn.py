#!/usr/bin/env python3
"""RFC 7143 11.7.5 (DataSN) and 4.2.2.3 (Data Sequencing); UNH-IOL Full Feature Phase #6.1
(DataSN) and #11.3 (Data-out DataSN). The Data-Out PDUs that answer one R2T are numbered
from DataSN 0 up by one; the next R2T's start from 0 again."""
import conformance as c


def main(t):
    tgt = t.target(mrdsl=4096, r2t_chunk=16384)
    d = t.daemon(tgt, keys="AuthMethod=None;ImmediateData=No;InitialR2T=Yes")
    d.start()
    d.write(0, c.pattern(65536))
    r2ts = tgt.sent(c.OP_R2T)
    t.check(len(r2ts) == 4, "%d R2Ts for 64 KiB in 16 KiB bursts" % len(r2ts))
    for r in r2ts:
        sns = [p.data_sn for p in tgt.received(c.OP_DATA_OUT) if p.ttt == r.ttt]
        t.check(sns == list(range(len(sns))) and len(sns) == 4,
                "Data-Out DataSNs %s for R2T 0x%08x" % (sns, r.ttt))
    d.check_read(0, 65536, c.pattern(65536))


c.run(main)
