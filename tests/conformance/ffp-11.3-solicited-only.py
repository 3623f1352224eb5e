#!/usr/bin/env python3
"""RFC 7143 13.10 and 13.11 (InitialR2T=Yes, ImmediateData=No) and 11.3; UNH-IOL Full Feature
Phase #8.2 (Solicited Data Transmission) and #16.2.2. The WRITE carries no data (DataSegment-
Length 0) and the F bit, and every Data-Out answers an R2T sent before it."""
import conformance as c


def main(t):
    tgt = t.target()
    d = t.daemon(tgt, keys="AuthMethod=None;ImmediateData=No;InitialR2T=Yes")
    d.start()
    data = c.pattern(32768)
    d.write(4096, data)
    cmd = tgt.commands(0x2A, 0x8A)[-1]
    t.check(cmd.dsl == 0 and cmd.final, "WRITE with %d bytes of data, F bit %s" %
            (cmd.dsl, cmd.final))
    r2t_time = {r.ttt: r.time for r in tgt.sent(c.OP_R2T)}
    for p in tgt.received(c.OP_DATA_OUT):
        t.check(p.ttt in r2t_time and r2t_time[p.ttt] <= p.time,
                "Data-Out with TTT 0x%08x that no earlier R2T gave" % p.ttt)
    d.check_read(4096, 32768, data)


c.run(main)
