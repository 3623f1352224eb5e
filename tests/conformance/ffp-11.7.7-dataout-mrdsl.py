#!/usr/bin/env python3
"""RFC 7143 11.7.7 (DataSegmentLength) and 13.12 (MaxRecvDataSegmentLength); UNH-IOL Full
Feature Phase #11.1.1 (Data-out DataSegmentLength). The target declares 4096: no data segment
the initiator sends, immediate data or Data-Out, solicited or not, is longer."""
import conformance as c


def main(t):
    tgt = t.target(mrdsl=4096, prefs={"InitialR2T": "No"})
    d = t.daemon(tgt)
    d.start()
    data = c.pattern(262144)
    d.write(0, data)
    segs = [p.dsl for p in tgt.received() if p.opcode in (c.OP_DATA_OUT, c.OP_SCSI_CMD)]
    t.check(max(segs) == 4096, "the largest data segment is %d bytes" % max(segs))
    d.check_read(0, 262144, data)


c.run(main)
