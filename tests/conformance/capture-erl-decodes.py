#!/usr/bin/env python3
"""RFC 7143 section 11 (iSCSI PDU Formats) for error recovery levels 1 and 2 (11.16 SNACK,
11.14 Logout reason 2, 11.5.1 TASK REASSIGN): in a session of two connections at
ErrorRecoveryLevel 2, a Data/R2T SNACK for a dropped Data-In, DataACK SNACKs for Data-In with
the A bit, a Status SNACK for a skipped status, and, when the target cuts a connection in the
middle of a write, a Logout "remove the connection for recovery" and a TASK REASSIGN. The
traffic, captured on the loopback interface, decodes with tshark as iSCSI with no malformed
frame and holds each of these PDUs."""
import threading
import conformance as c

READ_CDBS = (0x28, 0x88)


class Scripted(c.Target):
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


def snacks(tgt, kind):
    return [p for p in tgt.snacks if p.type == kind]


def main(t):
    c.require_capture(t)
    tgt = t.target(Scripted, erl=2, max_connections=2, datain_chunk=4096, prefs=c.QUICK_PREFS)
    cap = t.capture(tgt.port)
    d = t.daemon(tgt, conns=2, keys="AuthMethod=None;ErrorRecoveryLevel=2" + c.QUICK)
    d.start()
    t.wait(lambda: len([x for x in tgt.conns if x.full_feature]) >= 2, 10, "no second connection")

    # Data/R2T SNACK (11.16.1): the second Data-In of a read never arrives.
    tgt.drop_datain = {(tgt.reads + 1, 1)}
    d.check_read(0, 32768, t.expect(0, 32768))
    t.check(snacks(tgt, 0), "no Data/R2T SNACK for the dropped Data-In")

    # DataACK SNACK (11.16.3): every second Data-In asks for one with the A bit.
    tgt.datain_ack_every = 2
    d.check_read(65536, 32768, t.expect(65536, 32768))
    tgt.datain_ack_every = 0
    t.wait(lambda: len(snacks(tgt, 2)) >= 4, 5, "no DataACK SNACK for the Data-In with the A bit")

    # Status SNACK (11.16.2): a status is skipped, a NOP-In on its connection shows the gap.
    skipped = tgt.statuses + 1
    tgt.statsn_gap = {skipped}
    box = {}

    def read():
        try:
            box["data"] = d.read(131072, 4096)
        except BaseException as e:   # noqa: B902 (reported below)
            box["error"] = e
    th = threading.Thread(target=read, daemon=True)
    th.start()
    t.wait(lambda: tgt.statuses >= skipped, 10, "the read did not reach the target")
    tgt.conn_of(tgt.commands(*READ_CDBS)[-1].conn).send_nop_in()
    th.join(20)
    t.check(box.get("data") == t.expect(131072, 4096), "the read whose status was skipped "
            "returned %s" % ("wrong bytes" if "data" in box else box.get("error", "nothing")))
    t.check(snacks(tgt, 1), "no Status SNACK for the skipped status")

    # Logout reason 2 (11.14) and TASK REASSIGN (11.5.1): a connection cut mid-write.
    tgt.armed = True
    writes = [(262144 + i * 131072, c.pattern(65536, 300 + i)) for i in range(8)]
    t.parallel([lambda o=o, b=b: d.write(o, b) for o, b in writes], timeout=60)
    t.check(tgt.cut is not None, "no connection was cut in the middle of a write")
    cid, itt = tgt.cut
    t.check([p for p in tgt.logouts if p.reason == 2 and p.cid == cid],
            "no Logout with reason 2 for CID %d" % cid)
    t.check([p for p in tgt.received(c.OP_TMF_REQ) if p.function == c.TMF_TASK_REASSIGN and
             p.ref_itt == itt], "no TASK REASSIGN for the cut write 0x%08x" % itt)
    t.wait(lambda: len([x for x in tgt.conns if x.full_feature and not x.closed]) >= 2, 15,
           "CID %d did not log in again" % cid)
    for off, data in writes:
        d.check_read(off, len(data), data)
    d.stop_checked()
    cap.stop()

    cap.check_decodes()
    seen = cap.fields("frame.number", "iscsi.snack.type", "iscsi.scsidata.A",
                      "iscsi.logout.reason", "iscsi.taskmanfun.function")
    snack_types = {int(v, 0) for v in seen["iscsi.snack.type"]}
    acks = len([v for v in seen["iscsi.scsidata.A"] if v in ("1", "True")])
    reasons = {int(v, 0) for v in seen["iscsi.logout.reason"]}
    functions = {int(v, 0) for v in seen["iscsi.taskmanfun.function"]}
    want = {0: "Data/R2T SNACK", 1: "Status SNACK", 2: "DataACK SNACK"}
    missing = [want[k] for k in sorted(want) if k not in snack_types]
    if not acks:
        missing.append("Data-In with the A bit")
    if 2 not in reasons:
        missing.append("Logout with reason 2")
    if c.TMF_TASK_REASSIGN not in functions:
        missing.append("TASK REASSIGN")
    t.check(not missing, "tshark decoded no %s" % ", ".join(missing))
    t.msg("%d frames, none malformed; tshark decoded SNACK types %s, %d Data-In with the A "
          "bit, Logout reasons %s, TMF functions %s" %
          (len(seen["frame.number"]), sorted(snack_types), acks, sorted(reasons), sorted(functions)))


c.run(main)
