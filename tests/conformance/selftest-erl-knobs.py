#!/usr/bin/env python3
"""The scripted target's error recovery knobs (RFC 7143 7.1-7.2, 11.16, 11.5.1) work, checked
with a minimal initiator written here on raw sockets, independent of iscsifs (whose own ERL 1
and 2 tests rely on these knobs): a dropped Data-In comes back on a Data/R2T SNACK, a skipped status on a Status SNACK, the
A bit asks for a DataACK SNACK, a Data-Out with a (simulated) data digest error gets a recovery
R2T, and after a Logout with reason 2 a write's allegiance moves to the other connection with
TASK REASSIGN and it completes there; the write log holds each write once. Needs no root."""
import socket
import struct
import sys
import os

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import iscsi_target as it   # noqa: E402

IQN = "iqn.2026-11.org.iscsifs.test:selftest"


class Client:
    """Just enough of an initiator: one connection, no digests."""

    def __init__(self, port, isid, cid, tsih=0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.isid, self.cid = isid, cid
        self.exp_stat_sn = 0
        self.itt = 0x100 * (cid + 1)
        keys = [("InitiatorName", "iqn.2026-11.org.iscsifs.test:selftest-initiator"),
                ("SessionType", "Normal"), ("TargetName", IQN), ("AuthMethod", "None"),
                ("ErrorRecoveryLevel", "2"), ("MaxConnections", "2"),
                ("ImmediateData", "No"), ("InitialR2T", "Yes"),
                ("MaxRecvDataSegmentLength", "8192")]
        if tsih:
            keys = keys[:4] + [("MaxRecvDataSegmentLength", "8192")]
        b = bytearray(48)
        b[0] = 0x43
        b[1] = 0x80 | 3          # T, CSG 0, NSG 3
        b[8:14] = isid
        struct.pack_into(">HIHHII", b, 14, tsih, 0, cid, 0, 0x1000, 0)
        self.send(b, it.text_bytes(keys))
        rsp = self.recv()
        assert rsp.opcode == it.OP_LOGIN_RSP and rsp.status_class == 0 and rsp.transit, rsp
        self.tsih = rsp.tsih
        self.cmd_sn = rsp.exp_cmd_sn

    def send(self, bhs, data=b""):
        bhs = bytearray(bhs)
        bhs[5:8] = len(data).to_bytes(3, "big")
        self.sock.sendall(bytes(bhs) + data + bytes(it.pad4(len(data)) - len(data)))

    def recv(self):
        def exact(n):
            out = b""
            while len(out) < n:
                chunk = self.sock.recv(n - len(out))
                assert chunk, "the target closed the connection"
                out += chunk
            return out
        bhs = exact(48)
        dsl = int.from_bytes(bhs[5:8], "big")
        data = exact(it.pad4(dsl))[:dsl]
        p = it.Pdu(bhs, data)
        if p.opcode in (it.OP_SCSI_RSP, it.OP_LOGIN_RSP, it.OP_TMF_RSP, it.OP_LOGOUT_RSP) or \
                (p.opcode == it.OP_DATA_IN and p.status_present):
            self.exp_stat_sn = (p.stat_sn + 1) & 0xFFFFFFFF
        return p

    def command(self, write, lba, blocks):
        self.itt += 1
        b = bytearray(48)
        b[0] = 0x01
        b[1] = 0x80 | (0x20 if write else 0x40) | 1
        struct.pack_into(">IIII", b, 16, self.itt, blocks * 512, self.cmd_sn, self.exp_stat_sn)
        b[32:42] = struct.pack(">BBIBHB", 0x2A if write else 0x28, 0, lba, 0, blocks, 0)
        self.cmd_sn = (self.cmd_sn + 1) & 0xFFFFFFFF
        self.send(b)
        return self.itt

    def snack(self, kind, itt, beg, run, ttt=it.RSVD):
        b = bytearray(48)
        b[0] = 0x10
        b[1] = 0x80 | kind
        struct.pack_into(">III", b, 16, itt, ttt, 0)
        struct.pack_into(">I", b, 28, self.exp_stat_sn)
        struct.pack_into(">II", b, 40, beg, run)
        self.send(b)

    def data_out(self, itt, ttt, data_sn, off, data, final):
        b = bytearray(48)
        b[0] = 0x05
        b[1] = 0x80 if final else 0
        struct.pack_into(">II", b, 16, itt, ttt)
        struct.pack_into(">I", b, 28, self.exp_stat_sn)
        struct.pack_into(">II", b, 36, data_sn, off)
        self.send(b, data)

    def answer_r2t(self, r2t, buf):
        off, n = r2t.buffer_offset, r2t.desired_length
        for k, o in enumerate(range(off, off + n, 4096)):
            m = min(4096, off + n - o)
            self.data_out(r2t.itt, r2t.ttt, k, o, buf[o:o + m], o + m == off + n)


def check(cond, what):
    if not cond:
        print("selftest-erl-knobs: FAIL: %s" % what, file=sys.stderr)
        sys.exit(1)


def main():
    tgt = it.Target(iqn=IQN, erl=2, max_connections=2, datain_chunk=4096,
                    log=open(os.devnull, "w"))
    try:
        run(tgt)
    finally:
        tgt.stop()
    check(not tgt.violations, "violations: %s" % tgt.violations)
    print("selftest-erl-knobs: PASS")


def run(tgt):
    isid = bytes([0x80, 1, 2, 3, 4, 5])
    a = Client(tgt.port, isid, 0)
    disk = tgt.disks[0]

    # A dropped Data-In is sent again for a Data/R2T SNACK (11.16.1).
    tgt.drop_datain = {(1, 1)}
    itt = a.command(False, 0, 32)
    got = {}
    while True:
        p = a.recv()
        got[p.data_sn] = p.data
        if p.status_present:
            break
    check(sorted(got) == [0, 2, 3], "DataSNs %s with DataSN 1 dropped" % sorted(got))
    a.snack(0, itt, 1, 1)
    p = a.recv()
    check(p.data_sn == 1, "the SNACK brought DataSN %d" % p.data_sn)
    got[1] = p.data
    check(b"".join(got[k] for k in range(4)) == bytes(disk[:16384]), "the read's data")

    # A status left out (StatSN gap) comes back on a Status SNACK (11.16.2).
    tgt.status_in_datain = False
    tgt.statsn_gap = {tgt.statuses + 1}       # the SCSI Response after the read's data
    a.command(False, 64, 8)
    p = a.recv()
    check(p.opcode == it.OP_DATA_IN and not p.status_present, "expected the data alone")
    missing = a.exp_stat_sn
    a.command(False, 64, 8)
    a.recv()
    p = a.recv()
    check(p.opcode == it.OP_SCSI_RSP and p.stat_sn == (missing + 1) & 0xFFFFFFFF,
          "no StatSN gap: %r" % p)
    a.snack(1, it.RSVD, missing, 1)
    p = a.recv()
    check(p.opcode == it.OP_SCSI_RSP and p.stat_sn == missing, "Status SNACK brought %r" % p)
    tgt.status_in_datain = True

    # The A bit asks for a DataACK SNACK (11.7.2).
    tgt.datain_ack_every = 2
    itt = a.command(False, 0, 16)
    acked = None
    while True:
        p = a.recv()
        if p.ack:
            acked = p
        if p.status_present:
            break
    check(acked is not None and acked.ttt != it.RSVD, "no Data-In with the A bit")
    a.snack(2, itt, acked.data_sn + 1, 0, ttt=acked.ttt)
    tgt.datain_ack_every = 0

    # A Data-Out with a data digest error gets a recovery R2T (7.8).
    tgt.dataout_digest_error = {(1, 0)}
    buf = os.urandom(8192)
    itt = a.command(True, 256, 16)
    r2t = a.recv()
    check(r2t.opcode == it.OP_R2T, "no R2T for the write")
    a.answer_r2t(r2t, buf)
    r2t = a.recv()
    check(r2t.opcode == it.OP_R2T and (r2t.buffer_offset, r2t.desired_length) == (0, 4096),
          "no recovery R2T for the lost Data-Out: %r" % r2t)
    a.answer_r2t(r2t, buf)
    p = a.recv()
    check(p.opcode == it.OP_SCSI_RSP and p.status == 0, "the write did not complete")
    check(bytes(disk[256 * 512:256 * 512 + 8192]) == buf, "the disk lacks the write")

    # Logout reason 2 for another CID, then TASK REASSIGN moves a write (7.2.2, 11.5.1).
    b = Client(tgt.port, isid, 1, tsih=a.tsih)
    b.cmd_sn = a.cmd_sn
    buf = os.urandom(8192)
    itt = a.command(True, 512, 16)
    b.cmd_sn = a.cmd_sn
    r2t = a.recv()
    check(r2t.opcode == it.OP_R2T, "no R2T")
    lo = bytearray(48)
    lo[0] = 0x46
    lo[1] = 0x80 | 2
    struct.pack_into(">IHHII", lo, 16, 0x7777, 0, 0, b.cmd_sn, b.exp_stat_sn)   # CID 0
    b.send(lo)
    p = b.recv()
    check(p.opcode == it.OP_LOGOUT_RSP and p.response == 0, "Logout reason 2 refused: %r" % p)
    tm = bytearray(48)
    tm[0] = 0x42
    tm[1] = 0x80 | it.TMF_TASK_REASSIGN
    struct.pack_into(">IIIII", tm, 16, 0x7778, itt, b.cmd_sn, b.exp_stat_sn, 0)
    b.send(tm)
    p = b.recv()
    check(p.opcode == it.OP_TMF_RSP and p.response == 0, "TASK REASSIGN refused: %r" % p)
    r2t = b.recv()
    check(r2t.opcode == it.OP_R2T and r2t.itt == itt, "no R2T on the new connection")
    b.answer_r2t(r2t, buf)
    p = b.recv()
    check(p.opcode == it.OP_SCSI_RSP and p.status == 0, "the reassigned write did not complete")
    check(bytes(disk[512 * 512:512 * 512 + 8192]) == buf, "the disk lacks the reassigned write")
    lbas = [w.lba for w in tgt.write_log]
    check(lbas == [256, 512], "the write log is %s" % tgt.write_log)
    check(tgt.write_log[1].cid == 1, "the reassigned write was applied for CID %d" %
          tgt.write_log[1].cid)
    check(tgt.snacks and tgt.acks, "SNACKs not recorded")


main()
