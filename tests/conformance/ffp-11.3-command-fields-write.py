#!/usr/bin/env python3
"""RFC 7143 11.3 (SCSI Command); UNH-IOL Full Feature Phase #16.1.1 (SCSI Command PDU fields
with immediate data) and #16.6 (Expected Data Transfer Length). A 16 KiB write at byte 1 MiB:
W set, R clear, F set (InitialR2T=Yes), attribute SIMPLE, EDTL 16384, immediate data of
min(FirstBurstLength, MaxRecvDataSegmentLength) = 8192 bytes, WRITE(10) of 32 blocks at LBA
2048, LUN 0, a valid ITT."""
import struct
import conformance as c


def main(t):
    tgt = t.target()
    d = t.daemon(tgt)
    d.start()
    data = c.pattern(16384)
    d.write(1 << 20, data)
    cmd = tgt.commands(0x2A, 0x8A)[-1]
    t.check(cmd.write and not cmd.read and cmd.final, "W/R/F bits %d/%d/%d" %
            (cmd.write, cmd.read, cmd.final))
    t.check(cmd.attr == 1, "task attribute %d, not SIMPLE" % cmd.attr)
    t.check(cmd.edtl == 16384, "EDTL %d" % cmd.edtl)
    t.check(cmd.dsl == 8192 and cmd.data == data[:8192], "%d bytes of immediate data" % cmd.dsl)
    if cmd.cdb[0] == 0x2A:
        lba, n = struct.unpack_from(">I", cmd.cdb, 2)[0], struct.unpack_from(">H", cmd.cdb, 7)[0]
    else:
        lba, n = struct.unpack_from(">Q", cmd.cdb, 2)[0], struct.unpack_from(">I", cmd.cdb, 10)[0]
    t.check((lba, n) == (2048, 32), "CDB for LBA %d, %d blocks" % (lba, n))
    t.check(cmd.lun == bytes(8) and cmd.itt != c.RSVD, "LUN %s ITT 0x%08x" %
            (cmd.lun.hex(), cmd.itt))
    d.check_read(1 << 20, 16384, data)


c.run(main)
