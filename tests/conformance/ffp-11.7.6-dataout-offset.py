#!/usr/bin/env python3
"""RFC 7143 11.7.6 (Buffer Offset) and 11.8 (R2T: Buffer Offset and Desired Data Transfer
Length); UNH-IOL Full Feature Phase #11.4 (Data-out Buffer Offset), #12.2 and #12.3. For R2Ts
of 12 KiB (not a multiple of the 8 KiB segments), the Data-Out PDUs start at the R2T's
offset, follow one another without gap or overlap and end exactly at its end."""
import conformance as c


def main(t):
    tgt = t.target(r2t_chunk=12288)
    d = t.daemon(tgt, keys="AuthMethod=None;ImmediateData=No;InitialR2T=Yes")
    d.start()
    data = c.pattern(65536, 3)
    d.write(131072, data)
    r2ts = tgt.sent(c.OP_R2T)
    t.check(len(r2ts) == 6, "%d R2Ts" % len(r2ts))
    for r in r2ts:
        pdus = [p for p in tgt.received(c.OP_DATA_OUT) if p.ttt == r.ttt]
        off = r.buffer_offset
        for p in pdus:
            t.check(p.buffer_offset == off, "Data-Out at offset %d, %d expected (R2T at %d)" %
                    (p.buffer_offset, off, r.buffer_offset))
            off += p.dsl
        t.check(off == r.buffer_offset + r.desired_length, "the R2T's data ends at %d, not %d" %
                (off, r.buffer_offset + r.desired_length))
    d.check_read(131072, 65536, data)


c.run(main)
