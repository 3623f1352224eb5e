#!/usr/bin/env python3
"""RFC 7143 4.2.2.1; UNH-IOL Full Feature Phase #3.3 (MaxCmdSN = ExpCmdSN: a window of one
command). With four threads reading at once, never more than one command is outstanding at
the target, and all the reads complete."""
import conformance as c


def main(t):
    tgt = t.target(window=1)
    d = t.daemon(tgt)
    d.start()

    def reader(k):
        return lambda: [d.read((k * 16 + i) * 4096, 4096) for i in range(8)]
    t.parallel([reader(k) for k in range(4)])
    outstanding = most = 0
    for p in tgt.trace:
        if not p.sent and p.opcode == c.OP_SCSI_CMD:
            outstanding += 1
            most = max(most, outstanding)
        elif p.sent and (p.opcode == c.OP_SCSI_RSP or
                         (p.opcode == c.OP_DATA_IN and p.status_present)):
            outstanding -= 1
    t.check(most == 1, "%d commands outstanding at once in a window of one" % most)


c.run(main)
