#!/usr/bin/env python3
"""RFC 7143 11.7 (SCSI Data-In: S bit) and 11.7.3; UNH-IOL Full Feature Phase #10.1 (Data-in
Status). A read answered in several Data-In PDUs whose last one carries the status (F and S
bits) and no SCSI Response completes with the right bytes."""
import conformance as c


def main(t):
    tgt = t.target(datain_chunk=4096)
    d = t.daemon(tgt)
    d.start()
    d.check_read(0, 32768, t.expect(0, 32768))
    cmd = tgt.commands(0x28, 0x88)[-1]
    ins = [p for p in tgt.sent(c.OP_DATA_IN) if p.itt == cmd.itt]
    t.check(len(ins) == 8 and ins[-1].status_present and ins[-1].final,
            "the scripted target did not put the status in the last of 8 Data-In")
    t.check(not [p for p in tgt.sent(c.OP_SCSI_RSP) if p.itt == cmd.itt],
            "a SCSI Response was sent as well")


c.run(main)
