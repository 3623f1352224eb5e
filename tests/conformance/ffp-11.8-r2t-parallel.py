#!/usr/bin/env python3
"""RFC 7143 11.8 (R2T) and 4.2.4.2; UNH-IOL Full Feature Phase #12.4 (Parallel Commands). Four
writes in flight at once get their R2Ts interleaved; each Data-Out goes with its own task's
ITT and TTT (the scripted target checks each one), and every region reads back as written."""
import conformance as c


def main(t):
    tgt = t.target(r2t_chunk=8192)
    d = t.daemon(tgt, keys="AuthMethod=None;ImmediateData=No;InitialR2T=Yes")
    d.start()
    datas = [c.pattern(65536, k) for k in range(4)]
    t.parallel([lambda k=k: d.write(k * 65536, datas[k]) for k in range(4)])
    itts = [r.itt for r in tgt.sent(c.OP_R2T)]
    switches = sum(1 for a, b in zip(itts, itts[1:]) if a != b)
    t.check(len(set(itts)) == 4, "R2Ts for %d writes" % len(set(itts)))
    t.msg("R2Ts switched between tasks %d times" % switches)
    for k in range(4):
        d.check_read(k * 65536, 65536, datas[k])


c.run(main)
