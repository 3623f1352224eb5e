#!/usr/bin/env python3
"""RFC 7143 7.2.2, 11.6.1 (TASK REASSIGN answered "task allegiance reassignment not
supported"). With ErrorRecoveryLevel 2 and two connections, the target cuts one connection in
the middle of a write and then refuses to reassign it. The initiator falls back to what it does
at level 0: the write goes out again (a new task, since the target had the command), and lands
exactly once with the right bytes; the session is not reinstated."""
import conformance as c


class Refuse(c.Target):
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
        if pdu.opcode == c.OP_TMF_REQ and pdu.function == c.TMF_TASK_REASSIGN:
            b = conn.header(c.OP_TMF_RSP, 0x80, pdu.itt)
            b[2] = c.TMF_REASSIGN_UNSUPPORTED
            b[20:24] = bytes(4)   # reserved (11.6)
            conn.say("refusing TASK REASSIGN of 0x%08x" % pdu.ref_itt)
            conn.send_status(b)
            return True
        return False


def main(t):
    tgt = t.target(Refuse, erl=2, max_connections=2, prefs=c.QUICK_PREFS)
    d = t.daemon(tgt, conns=2, keys="AuthMethod=None;ErrorRecoveryLevel=2" + c.QUICK)
    d.start()
    t.wait(lambda: len([x for x in tgt.conns if x.full_feature]) >= 2, 10, "no second connection")
    tgt.armed = True
    writes = [(i * 131072, c.pattern(65536, 200 + i)) for i in range(8)]
    t.parallel([lambda o=o, b=b: d.write(o, b) for o, b in writes], timeout=60)
    t.check(tgt.cut is not None, "no connection was cut in the middle of a write")
    cid, itt = tgt.cut
    ra = [p for p in tgt.received(c.OP_TMF_REQ) if p.function == c.TMF_TASK_REASSIGN and
          p.ref_itt == itt]
    t.check(ra, "no TASK REASSIGN for the cut write 0x%08x" % itt)
    for off, data in writes:
        applied = [w for w in tgt.write_log if w.lba == off // 512]
        t.check(len(applied) == 1, "the write at LBA %d was applied %d times" %
                (off // 512, len(applied)))
        t.check(bytes(tgt.disks[0][off:off + len(data)]) == data, "the target does not hold "
                "the bytes written at %d" % off)
    t.check(len([x for x in tgt.conns if x.leading]) == 1, "the session was reinstated")
    t.check(d.said(r"not reassigned"), "the log does not say the write was not reassigned")
    for off, data in writes:
        d.check_read(off, len(data), data)


c.run(main)
