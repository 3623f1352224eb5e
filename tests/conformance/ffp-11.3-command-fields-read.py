#!/usr/bin/env python3
"""RFC 7143 11.3 (SCSI Command); UNH-IOL Full Feature Phase #16.1.2 (SCSI Command PDU fields
without immediate data) and #16.6. A 32 KiB read at byte 64 KiB: R set, W clear, F set, no
data segment, EDTL 32768, READ(10) of 64 blocks at LBA 128."""
import struct
import conformance as c


def main(t):
    tgt = t.target()
    d = t.daemon(tgt)
    d.start()
    d.check_read(65536, 32768, t.expect(65536, 32768))
    cmd = tgt.commands(0x28, 0x88)[-1]
    t.check(cmd.read and not cmd.write and cmd.final, "R/W/F bits %d/%d/%d" %
            (cmd.read, cmd.write, cmd.final))
    t.check(cmd.dsl == 0 and cmd.edtl == 32768, "DSL %d EDTL %d" % (cmd.dsl, cmd.edtl))
    if cmd.cdb[0] == 0x28:
        lba, n = struct.unpack_from(">I", cmd.cdb, 2)[0], struct.unpack_from(">H", cmd.cdb, 7)[0]
    else:
        lba, n = struct.unpack_from(">Q", cmd.cdb, 2)[0], struct.unpack_from(">I", cmd.cdb, 10)[0]
    t.check((lba, n) == (128, 64), "CDB for LBA %d, %d blocks" % (lba, n))


c.run(main)
