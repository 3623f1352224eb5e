#!/usr/bin/env python3
"""RFC 7143 7.2.1 (Usage of Retry), 7.8 (a command whose immediate data has a digest error is
rejected and discarded; its data is recovered when the command is retried), 11.17; UNH-IOL
Full Feature Phase #4.1. With ErrorRecoveryLevel 1, the target rejects a WRITE with immediate
data (Reject reason 0x02, data digest error) and discards it. The initiator sends the command
again on the same connection with its ITT, CmdSN, CDB and immediate data; the write is applied
once, with the right bytes, and there is no new login."""
import conformance as c


class Reject(c.Target):
    armed = False
    rejected = None

    def on_command(self, conn, pdu):
        if self.armed and pdu.cdb[0] in (0x2A, 0x8A) and pdu.dsl:
            self.armed = False
            self.rejected = pdu
            conn.forget_command(pdu)
            conn.send_reject(pdu, 0x02)
            return True
        return False

    def retry_allowed(self, pdu):
        return self.rejected is not None and pdu.itt == self.rejected.itt


def main(t):
    tgt = t.target(Reject, erl=1, prefs=c.QUICK_PREFS)
    d = t.daemon(tgt, keys="AuthMethod=None;ErrorRecoveryLevel=1" + c.QUICK)
    d.start()
    logins = len(tgt.logins())
    tgt.armed = True
    data = c.pattern(16384, 5)
    d.write(262144, data)
    lost = tgt.rejected
    t.check(lost is not None, "no WRITE with immediate data was rejected")
    again = [p for p in tgt.received(c.OP_SCSI_CMD) if p.itt == lost.itt and p is not lost]
    t.check(len(again) == 1, "the WRITE was sent again %d times with its ITT 0x%08x" %
            (len(again), lost.itt))
    r = again[0]
    t.check((r.cmd_sn, r.cdb, r.data, r.conn) == (lost.cmd_sn, lost.cdb, lost.data, lost.conn),
            "the retry changed CmdSN, CDB, immediate data or connection")
    logged = [w for w in tgt.write_log if w.lba == 512]
    t.check(len(logged) == 1, "the write was applied %d times" % len(logged))
    t.check(bytes(tgt.disks[0][262144:262144 + 16384]) == data, "the target does not hold the "
            "written bytes")
    t.check(len(tgt.logins()) == logins, "the initiator logged in again")


c.run(main)
