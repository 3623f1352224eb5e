#!/usr/bin/env python3
"""RFC 7143 13.13 (MaxBurstLength) and 13.14 (FirstBurstLength), minimum keys; UNH-IOL Login
Phase #15.1 (MaxBurstLength) and #16.1 (FirstBurstLength Less Than MaxBurstLength). With
both lowered to 16384 by the target, the initiator sends at most 16384 bytes of unsolicited
data per command and a write of 128 KiB goes through in R2T bursts."""
import conformance as c


def main(t):
    tgt = t.target(answers={"MaxBurstLength": "16384", "FirstBurstLength": "8192"})
    d = t.daemon(tgt)
    d.start()
    data = c.pattern(131072)
    d.write(0, data)
    # One WRITE, or two when FUSE splits a buffer that is not page-aligned (over io_uring,
    # requests are at most 128 KiB): each within the bursts.
    cmds = tgt.commands(0x2A, 0x8A)
    t.check(cmds, "no WRITE reached the target")
    r2ts = 0
    for cmd in cmds:
        unsol = cmd.dsl + sum(p.dsl for p in tgt.received(c.OP_DATA_OUT)
                              if p.ttt == c.RSVD and p.itt == cmd.itt)
        t.check(unsol <= 8192, "%d bytes of unsolicited data, FirstBurstLength is 8192" % unsol)
        r2ts += len([p for p in tgt.sent(c.OP_R2T) if p.itt == cmd.itt])
    t.check(r2ts >= 7, "only %d R2Ts for 120 KiB in bursts of 16 KiB" % r2ts)
    d.check_read(0, 131072, data)


c.run(main)
