#!/usr/bin/env python3
"""RFC 7143 11.3 (LUN field) and SAM-5 4.7 (single-level LUN structure: peripheral device
addressing below 256, flat space above). Commands to LUN 300 carry 0x41 0x2C in the first two
LUN bytes, and LUN 300 reads as the target holds it."""
import conformance as c


def main(t):
    tgt = t.target(luns=(0, 300))
    d = t.daemon(tgt)
    d.start()
    d.check_read(0, 8192, t.expect(0, 8192, lun=300), lun=300)
    cmd = tgt.commands(0x28, 0x88)[-1]
    t.check(cmd.lun == bytes([0x41, 0x2C]) + bytes(6), "LUN 300 encoded as %s" % cmd.lun.hex())
    d.check_read(0, 4096, t.expect(0, 4096, lun=0), lun=0)
    t.check(tgt.commands(0x28, 0x88)[-1].lun == bytes(8), "LUN 0 not encoded as zeros")


c.run(main)
