#!/usr/bin/env python3
"""RFC 7143 11.3 and 13.11 (ImmediateData); UNH-IOL Full Feature Phase #16.2.1 and #16.3.1. A
write no larger than FirstBurstLength and MaxRecvDataSegmentLength goes whole as immediate
data (DataSegmentLength = EDTL) with the F bit; no R2T and no Data-Out follow."""
import conformance as c


def main(t):
    tgt = t.target()
    d = t.daemon(tgt)
    d.start()
    data = c.pattern(4096)
    d.write(8192, data)
    cmd = tgt.commands(0x2A, 0x8A)[-1]
    t.check(cmd.dsl == cmd.edtl == 4096 and cmd.final, "DSL %d EDTL %d F %s" %
            (cmd.dsl, cmd.edtl, cmd.final))
    t.check(not tgt.received(c.OP_DATA_OUT) and not tgt.sent(c.OP_R2T), "Data-Out or R2T for "
            "a write sent whole as immediate data")
    d.check_read(8192, 4096, data)


c.run(main)
