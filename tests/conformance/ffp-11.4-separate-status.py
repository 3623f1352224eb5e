#!/usr/bin/env python3
"""RFC 7143 11.4 (SCSI Response) and 11.7.3; UNH-IOL Full Feature Phase #10.1. A read whose
Data-In PDUs carry no status (no S bit) completes when the SCSI Response arrives, with the
right bytes; its ExpDataSN counts the Data-In sent."""
import conformance as c


def main(t):
    tgt = t.target(datain_chunk=4096, status_in_datain=False)
    d = t.daemon(tgt)
    d.start()
    d.check_read(0, 32768, t.expect(0, 32768))
    cmd = tgt.commands(0x28, 0x88)[-1]
    rsp = [p for p in tgt.sent(c.OP_SCSI_RSP) if p.itt == cmd.itt]
    t.check(rsp and rsp[0].exp_data_sn == 8, "no SCSI Response with ExpDataSN 8")


c.run(main)
