#!/usr/bin/env python3
"""RFC 7143 7.9 (Sequence Errors: a Data-In with an out-of-order DataSN implies a lost PDU,
which the initiator must treat as a digest error, 7.8) and 11.7.5 (DataSN). The target
numbers the Data-In of a read 0, 2, 3, ... with the offsets still contiguous; at
ErrorRecoveryLevel 0 the initiator must drop the connection (and send the read again on the
next one)."""
import struct
import conformance as c


class Gap(c.Target):
    armed = False

    def on_command(self, conn, pdu):
        if not (self.armed and pdu.cdb[0] in (0x28, 0x88)):
            return False
        self.armed = False
        lba, n = conn.lba_range(pdu)
        data = bytes(self.disks[0][lba * 512:(lba + n) * 512])
        for i, off in enumerate(range(0, len(data), 4096)):
            last = off + 4096 >= len(data)
            b = conn.header(c.OP_DATA_IN, 0x81 if last else 0, pdu.itt)
            struct.pack_into(">III", b, 36, i if i == 0 else i + 1, off, 0)
            if last:
                conn.send_status(b, data[off:off + 4096])
            else:
                conn.send_raw(b, data[off:off + 4096])
        return True


def main(t):
    tgt = t.target(Gap, prefs=c.QUICK_PREFS)
    d = t.daemon(tgt, keys="AuthMethod=None" + c.QUICK)
    d.start()
    tgt.armed = True
    d.read(0, 16384)
    t.check(len(tgt.conns) >= 2, "a read whose Data-In skipped DataSN 1 was taken as complete")


c.run(main)
