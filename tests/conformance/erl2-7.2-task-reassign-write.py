#!/usr/bin/env python3
"""RFC 7143 7.1.4 and 7.2.2 (connection recovery: allegiance reassignment), 11.14.1 (Logout
reason 2), 11.5.1 (TASK REASSIGN); UNH-IOL Full Feature Phase #7.1 (Connection Reassignment)
and #19.5 (Task Reassign). With ErrorRecoveryLevel 2 and two connections, writes run on both
and the target cuts one connection in the middle of a write. The initiator logs that CID out
with reason 2 ("remove the connection for recovery") on the other connection, moves the cut
connection's writes there with TASK REASSIGN, answers the target's R2Ts for what is missing,
and logs the CID in again into the same session. Every write is applied exactly once (the
target's write log has each once, none missing) with the right bytes; the session is never
reinstated and no write goes out again as a new command."""
import conformance as c


class Cut(c.Target):
    armed = False
    cut = None

    def on_pdu(self, conn, pdu):
        if (self.armed and pdu.opcode == c.OP_DATA_OUT and conn.cid == 1 and not pdu.final and
                pdu.itt in conn.tasks):
            self.armed = False
            conn.data_out(pdu)
            self.cut = (conn.cid, pdu.itt)
            conn.say("cutting the connection in the middle of write 0x%08x" % pdu.itt)
            conn.close()
            return True
        return False


def main(t):
    tgt = t.target(Cut, erl=2, max_connections=2, prefs=c.QUICK_PREFS)
    d = t.daemon(tgt, conns=2, keys="AuthMethod=None;ErrorRecoveryLevel=2" + c.QUICK)
    d.start()
    t.wait(lambda: len([x for x in tgt.conns if x.full_feature]) >= 2, 10, "no second connection")
    tsih = tgt.conn_of(1).session.tsih
    tgt.armed = True
    writes = [(i * 131072, c.pattern(65536, 100 + i)) for i in range(8)]
    t.parallel([lambda o=o, b=b: d.write(o, b) for o, b in writes], timeout=60)
    t.check(tgt.cut is not None, "no connection was cut in the middle of a write")
    cid, itt = tgt.cut
    for off, data in writes:
        applied = [w for w in tgt.write_log if w.lba == off // 512]
        t.check(len(applied) == 1, "the write at LBA %d was applied %d times" %
                (off // 512, len(applied)))
        t.check(bytes(tgt.disks[0][off:off + len(data)]) == data, "the target does not hold "
                "the bytes written at %d" % off)
    t.check(len(tgt.write_log) == len(writes), "%d writes applied, %d made" %
            (len(tgt.write_log), len(writes)))
    lo = [p for p in tgt.logouts if p.reason == 2 and p.cid == cid]
    t.check(lo, "no Logout with reason 2 for CID %d" % cid)
    ra = [p for p in tgt.received(c.OP_TMF_REQ) if p.function == c.TMF_TASK_REASSIGN]
    t.check([p for p in ra if p.ref_itt == itt], "no TASK REASSIGN for the cut write 0x%08x" % itt)
    t.check(all(p.time > lo[0].time for p in ra), "a TASK REASSIGN before the Logout")
    sent = {}
    for p in tgt.commands(0x2A, 0x8A):
        sent.setdefault(p.cdb, []).append(p)
    t.check(all(len(v) == 1 for v in sent.values()), "a write went out again as a new command")
    leading = [x for x in tgt.conns if x.leading]
    t.check(len(leading) == 1, "the session was reinstated (%d leading logins)" % len(leading))
    t.wait(lambda: len([x for x in tgt.conns if x.full_feature and not x.closed]) >= 2, 15,
           "CID %d did not log in again" % cid)
    t.check(all(x.session.tsih == tsih for x in tgt.conns if x.full_feature),
            "a connection joined another session")
    t.check(d.said(r"TASK REASSIGN"), "the log does not tell of the reassignment")
    for off, data in writes:
        d.check_read(off, len(data), data)


c.run(main)
