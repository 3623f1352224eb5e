#!/usr/bin/env python3
"""RFC 7143 7.14 (Connection Failures) and 6.3.5; the recovery of ErrorRecoveryLevel 0 for a
write. The target closes the connection when a WRITE arrives, before taking its data; after
reinstatement the write is sent again and lands: the LUN holds the new bytes."""
import conformance as c


class Drop(c.Target):
    armed = False

    def on_command(self, conn, pdu):
        if self.armed and pdu.cdb[0] in (0x2A, 0x8A):
            self.armed = False
            conn.close()
            return True
        return False


def main(t):
    tgt = t.target(Drop, prefs=c.QUICK_PREFS)
    d = t.daemon(tgt, keys="AuthMethod=None" + c.QUICK)
    d.start()
    tgt.armed = True
    data = c.pattern(32768, 9)
    d.write(40960, data)
    t.check(bytes(tgt.disks[0][40960:40960 + 32768]) == data, "the target does not hold the "
            "written bytes")
    t.check([w for w in tgt.write_log if w.lba == 80], "the write log has no write at LBA 80")
    d.check_read(40960, 32768, data)


c.run(main)
