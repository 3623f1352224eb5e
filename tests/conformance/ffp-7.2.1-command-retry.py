#!/usr/bin/env python3
"""RFC 7143 7.2.1 (Usage of Retry) and 11.14 (Logout reason 1); UNH-IOL Full Feature Phase
#4.1 (Command Retry). In a session of two connections, the connection a READ went out on is
lost before the target took the command. The initiator logs that CID out on the other
connection, then retries the READ there with its original ITT, CmdSN and CDB, and the read
returns the right bytes."""
import conformance as c


class Drop(c.Target):
    armed = False
    dropped = None

    def on_command(self, conn, pdu):
        if self.armed and pdu.cdb[0] in (0x28, 0x88):
            self.armed = False
            self.dropped = pdu
            conn.forget_command(pdu)
            conn.say("closing the connection with READ 0x%08x not taken" % pdu.itt)
            conn.close()
            return True
        return False

    def retry_allowed(self, pdu):
        return self.dropped is not None and pdu.itt == self.dropped.itt


def main(t):
    tgt = t.target(Drop, max_connections=2, prefs=c.QUICK_PREFS)
    d = t.daemon(tgt, conns=2, keys="AuthMethod=None" + c.QUICK)
    d.start()
    t.wait(lambda: len([x for x in tgt.conns if x.full_feature]) >= 2, 10, "no second connection")
    tgt.armed = True
    d.check_read(65536, 8192, t.expect(65536, 8192))
    lost = tgt.dropped
    t.check(lost is not None, "the READ was not dropped")
    retry = [p for p in tgt.received(c.OP_SCSI_CMD) if p.itt == lost.itt and p is not lost]
    t.check(retry, "the READ was not retried with its ITT 0x%08x" % lost.itt)
    r = retry[0]
    t.check(r.cmd_sn == lost.cmd_sn and r.cdb == lost.cdb, "the retry changed CmdSN or CDB")
    t.check(r.conn != lost.conn, "the retry went on the lost connection")
    cid = tgt.conn_of(lost.conn).cid
    lo = [p for p in tgt.received(c.OP_LOGOUT_REQ) if p.reason == 1 and p.cid == cid]
    t.check(lo and lo[0].time < r.time, "no Logout of CID %d before the retry" % cid)


c.run(main)
