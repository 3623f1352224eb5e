#!/usr/bin/env python3
"""RFC 7143 11.7.7 (DataSegmentLength of Data-In) and 11.7.3; UNH-IOL Full Feature Phase
#11.1.2 (Data-In DataSegmentLength). A read's data in one Data-In without status, then a
Data-In with DataSegmentLength 0 that carries the F and S bits and the status: the read
completes with the right bytes."""
import struct
import conformance as c


class Zero(c.Target):
    armed = False

    def on_command(self, conn, pdu):
        if not (self.armed and pdu.cdb[0] in (0x28, 0x88)):
            return False
        self.armed = False
        lba, n = conn.lba_range(pdu)
        data = bytes(self.disks[0][lba * 512:(lba + n) * 512])
        b = conn.header(c.OP_DATA_IN, 0x00, pdu.itt)
        struct.pack_into(">III", b, 36, 0, 0, 0)
        conn.send_raw(b, data)
        b = conn.header(c.OP_DATA_IN, 0x81, pdu.itt)
        struct.pack_into(">III", b, 36, 1, len(data), 0)
        conn.send_status(b, b"")
        return True


def main(t):
    tgt = t.target(Zero)
    d = t.daemon(tgt)
    d.start()
    tgt.armed = True
    d.check_read(8192, 4096, t.expect(8192, 4096))
    t.check(not tgt.armed, "the scripted read did not happen")


c.run(main)
