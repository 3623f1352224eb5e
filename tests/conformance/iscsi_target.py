"""A scripted iSCSI target for the conformance tests (Python 3, standard library only).

The target runs inside the test's own process: Target() listens on 127.0.0.1 (and on ::1 at
the same port when the host has IPv6) on a port the kernel picks, serves LUNs from memory, and
decodes every PDU it receives and sends per RFC 7143 section 11 into a Pdu object kept in
target.trace. A test sets what the target sends with constructor knobs, attributes changed at
run time and hook methods of a subclass, and checks what the initiator sent from the trace.
Anything the initiator does that the RFC forbids and that the target notices on its own (a CmdSN
outside the window, a Data-Out that no R2T asked for, a data segment longer than the declared
MaxRecvDataSegmentLength, a key negotiated twice...) is added to target.violations.

Knobs (constructor keywords; most are attributes that may also change while it runs)
  iqn                  the target name (default iqn.2026-11.org.iscsifs.test:conformance)
  luns                 LUN numbers served (default [0]); each LUN has size_mib MiB of
                       deterministic content (initial_content()) kept across connections
  answers              {key: value}: the value sent for key in the login, instead of what the
                       negotiation rules give (a value the RFC forbids included); None omits it
  declare              {stage: [(key, value)]}: keys sent unasked in the first Login Response
                       of that stage (0 security, 1 operational)
  prefs                {key: value}: the target's own side of the negotiation (what it would
                       offer); defaults in PREFS
  digests              accept CRC32C digests (HeaderDigest and DataDigest)
  max_connections      what the target allows (MaxConnections answer)
  erl                  the highest ErrorRecoveryLevel the target agrees to (default 0)
  chap                 None, or {"user", "secret", ["target_user", "target_secret"],
                       ["alg": 5]}: CHAP is required and checked, mutual when target_user is
                       given (RFC 7143 12.1.3)
  redirect             None, or (address, port[, detail]): every login is answered with status
                       class 1 (detail 1 temporary, 2 permanent) and TargetAddress
  stat_sn              the first StatSN of each connection (default: random)
  window               commands the target will take: MaxCmdSN = ExpCmdSN + window - 1 (0
                       closes the window); changed at run time, then announced with
                       conn.send_nop_in() or with the next response
  mrdsl                the MaxRecvDataSegmentLength the target declares (default 8192)
  r2t_chunk            bytes asked for by one R2T (default MaxBurstLength)
  datain_chunk         bytes of one Data-In (default the initiator's MaxRecvDataSegmentLength)
  status_in_datain     status in the last Data-In (S bit) rather than in a SCSI Response
  delay_transit        login responses that leave the T bit clear before the target transits

Knobs for error recovery levels 1 and 2 (RFC 7143 7.1-7.2, 11.16, 11.5.1), which tests use
once the initiator negotiates ErrorRecoveryLevel above 0; each is a target attribute:
  datain_ack_every     N: at ERL >= 1, every Nth Data-In of a read carries the A bit
                       (DataACK requested); the DataACK SNACKs received are in target.acks
  drop_datain          {(read number, DataSN)}: those Data-In PDUs are not sent (reads count
                       from 1 in the order they arrive at the target); they stay in the task's
                       history and go out when a Data/R2T SNACK asks for them
  corrupt_datain_hdr   {(read number, DataSN)}: those Data-In PDUs go out with a wrong header
                       digest (needs digests); a SNACK gets the good copy
  corrupt_datain_data  the same with a wrong data digest
  statsn_gap           {status number}: the status with that number (counted from 1 over the
                       target's whole life) is not sent, its StatSN is skipped; a Status SNACK
                       sends it (11.16.2)
  dataout_digest_error {(write number, DataSN)}: that Data-Out is treated as if its data
                       digest were wrong: dropped, and at ERL >= 1 a recovery R2T asks for its
                       bytes again once the burst is over (7.8); at ERL 0 the command ends
                       with CHECK CONDITION, ABORTED COMMAND 47/05 (CRC error)
  SNACK (11.16)        Data/R2T SNACK resends the Data-In (or R2T) PDUs BegRun ... BegRun +
                       RunLength - 1 of the task named by its ITT (RunLength 0: all from
                       BegRun); Status SNACK resends the statuses from StatSN BegRun; DataACK
                       SNACK frees the Data-In history below BegRun; R-Data SNACK resends the
                       whole read. Each SNACK is in target.snacks.
  Logout reason 2      a Logout "remove the connection for recovery" for another CID is
                       answered with Time2Wait and Time2Retain; that connection's tasks are kept
                       for reassignment (and the connection closed if it is still open). At
                       ERL 2 a connection that fails keeps its unfinished tasks until a Logout
                       of its CID: reason 2 keeps them for reassignment, reason 1 ends them;
                       below ERL 2 reason 2 is answered "connection recovery is not supported"
  TASK REASSIGN        TMF function 8 (at ERL 2) for a kept task moves it to the connection it
                       came on and goes on from where it was: a read is sent again from the
                       ExpDataSN the request gives, a write gets an R2T for what is missing
  target.write_log     every write applied to a LUN: WriteRecord(lun, lba, blocks, itt,
                       cmd_sn, cid, digest of the data), in order, so a test can prove that
                       nothing was written twice and nothing was lost

Each connection logs one line per event to target.log (a file-like object; stderr by default).
"""

import hashlib
import os
import random
import secrets
import socket
import struct
import threading
import time

BHS_LEN = 48
RSVD = 0xFFFFFFFF
BLOCK = 512
SEED = 7143

# Opcodes (RFC 7143 11.2.1.2).
OP_NOP_OUT, OP_SCSI_CMD, OP_TMF_REQ, OP_LOGIN_REQ = 0x00, 0x01, 0x02, 0x03
OP_TEXT_REQ, OP_DATA_OUT, OP_LOGOUT_REQ, OP_SNACK = 0x04, 0x05, 0x06, 0x10
OP_NOP_IN, OP_SCSI_RSP, OP_TMF_RSP, OP_LOGIN_RSP = 0x20, 0x21, 0x22, 0x23
OP_TEXT_RSP, OP_DATA_IN, OP_LOGOUT_RSP, OP_R2T, OP_ASYNC, OP_REJECT = \
    0x24, 0x25, 0x26, 0x31, 0x32, 0x3F

OPCODE_NAMES = {
    OP_NOP_OUT: "NOP-Out", OP_SCSI_CMD: "SCSI Command", OP_TMF_REQ: "Task Management Request",
    OP_LOGIN_REQ: "Login Request", OP_TEXT_REQ: "Text Request", OP_DATA_OUT: "SCSI Data-Out",
    OP_LOGOUT_REQ: "Logout Request", OP_SNACK: "SNACK Request", OP_NOP_IN: "NOP-In",
    OP_SCSI_RSP: "SCSI Response", OP_TMF_RSP: "Task Management Response",
    OP_LOGIN_RSP: "Login Response", OP_TEXT_RSP: "Text Response", OP_DATA_IN: "SCSI Data-In",
    OP_LOGOUT_RSP: "Logout Response", OP_R2T: "R2T", OP_ASYNC: "Asynchronous Message",
    OP_REJECT: "Reject",
}
INITIATOR_OPCODES = (OP_NOP_OUT, OP_SCSI_CMD, OP_TMF_REQ, OP_LOGIN_REQ, OP_TEXT_REQ,
                     OP_DATA_OUT, OP_LOGOUT_REQ, OP_SNACK)

# SCSI status and sense keys (SAM-5, SPC-4).
GOOD, CHECK_CONDITION, BUSY, RESERVATION_CONFLICT, TASK_SET_FULL = 0x00, 0x02, 0x08, 0x18, 0x28
NOT_READY, MEDIUM_ERROR, HARDWARE_ERROR, ILLEGAL_REQUEST = 0x02, 0x03, 0x04, 0x05
UNIT_ATTENTION, ABORTED_COMMAND = 0x06, 0x0B

# TMF functions (11.5.1) and responses (11.6.1).
TMF_ABORT_TASK, TMF_ABORT_TASK_SET, TMF_LUN_RESET, TMF_TASK_REASSIGN = 1, 2, 5, 8
TMF_COMPLETE, TMF_NO_TASK, TMF_NO_LUN, TMF_REASSIGN_UNSUPPORTED = 0, 1, 2, 4
TMF_NOT_SUPPORTED, TMF_REJECTED = 5, 255

# The target's own side of each negotiated key (what it supports or prefers).
PREFS = {
    "HeaderDigest": "None", "DataDigest": "None", "MaxConnections": "1",
    "InitialR2T": "Yes", "ImmediateData": "Yes", "MaxBurstLength": "262144",
    "FirstBurstLength": "65536", "DefaultTime2Wait": "2", "DefaultTime2Retain": "20",
    "MaxOutstandingR2T": "1", "DataPDUInOrder": "Yes", "DataSequenceInOrder": "Yes",
    "ErrorRecoveryLevel": "0", "iSCSIProtocolLevel": "1", "TaskReporting": "RFC3720",
}
# Negotiation rule of each key (RFC 7143 section 13, 6.2).
RULES = {
    "HeaderDigest": "list", "DataDigest": "list", "AuthMethod": "list",
    "TaskReporting": "list",
    "MaxConnections": "min", "MaxBurstLength": "min", "FirstBurstLength": "min",
    "DefaultTime2Retain": "min", "MaxOutstandingR2T": "min", "ErrorRecoveryLevel": "min",
    "iSCSIProtocolLevel": "min", "DefaultTime2Wait": "max",
    "InitialR2T": "or", "DataPDUInOrder": "or", "DataSequenceInOrder": "or",
    "ImmediateData": "and",
    "MaxRecvDataSegmentLength": "declare", "TargetPortalGroupTag": "declare",
    "InitiatorName": "declare", "InitiatorAlias": "declare", "TargetName": "declare",
    "SessionType": "declare", "TargetAlias": "declare", "TargetAddress": "declare",
}
SPECIAL_VALUES = ("NotUnderstood", "Irrelevant", "Reject")


def initial_content(size, lun=0):
    """The deterministic bytes a LUN holds when the target starts."""
    return bytearray(random.Random(SEED + lun).randbytes(size))


def _crc_table():
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


CRC_TABLE = _crc_table()


def crc32c(data):
    """CRC32C (Castagnoli), the iSCSI digest (RFC 7143 13.1)."""
    crc = 0xFFFFFFFF
    table = CRC_TABLE
    for b in data:
        crc = table[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def digest_bytes(data):
    return struct.pack("<I", crc32c(data))   # least significant byte first on the wire


def pad4(n):
    return (n + 3) & ~3


def be16(b, off):
    return struct.unpack_from(">H", b, off)[0]


def be32(b, off):
    return struct.unpack_from(">I", b, off)[0]


def sn_lt(a, b):
    """Serial number arithmetic (RFC 1982, 32 bits): a < b."""
    return a != b and ((a - b) & 0xFFFFFFFF) > 0x80000000


def sn_le(a, b):
    return a == b or sn_lt(a, b)


def lun_bytes(n):
    """SAM-5 single-level LUN: peripheral addressing below 256, flat space above."""
    if n < 256:
        return bytes([0, n]) + bytes(6)
    return bytes([0x40 | (n >> 8) & 0x3F, n & 0xFF]) + bytes(6)


def lun_number(b):
    method = b[0] >> 6
    if method == 0:
        return b[1]
    if method == 1:
        return (b[0] & 0x3F) << 8 | b[1]
    return None


def parse_text(data):
    """[(key, value)] of key=value\\0 pairs; a pair without '=' gives (pair, None)."""
    pairs = []
    for item in bytes(data).split(b"\0"):
        if not item:
            continue
        s = item.decode("utf-8", "replace")
        if "=" not in s:
            pairs.append((s, None))
            continue
        k, v = s.split("=", 1)
        pairs.append((k, v))
    return pairs


def text_bytes(pairs):
    return b"".join(("%s=%s" % (k, v)).encode() + b"\0" for k, v in pairs)


def sense_fixed(key, asc, ascq):
    s = bytearray(18)
    s[0] = 0x70
    s[2] = key
    s[7] = 10
    s[12] = asc
    s[13] = ascq
    return bytes(s)


class Pdu:
    """One PDU decoded per RFC 7143 section 11, in either direction.

    Fields of every PDU: opcode, name, immediate (I bit), final (F bit, byte 1 bit 7), flags,
    ahs_len, dsl, lun (8 bytes), lun_number, itt, data, conn (index of the connection), sent
    (True for what the target sent), time. Per opcode:
      SCSI Command   read, write, attr, edtl, cmd_sn, exp_stat_sn, cdb
      SCSI Data-Out  ttt, exp_stat_sn, data_sn, buffer_offset
      NOP-Out        ttt, cmd_sn, exp_stat_sn
      TMF Request    function, ref_itt, cmd_sn, exp_stat_sn, ref_cmd_sn, exp_data_sn
      Login Request  transit, cont, csg, nsg, version_max, version_min, isid, tsih, cid,
                     cmd_sn, exp_stat_sn, keys
      Text Request   cont, ttt, cmd_sn, exp_stat_sn, keys
      Logout Request reason, cid, cmd_sn, exp_stat_sn
      SNACK          type, ttt, exp_stat_sn, beg_run, run_length
    and for target PDUs stat_sn, exp_cmd_sn, max_cmd_sn plus status, response, data_sn,
    buffer_offset, residual, r2t_sn, desired_length, event, reason, tsih, status_class,
    status_detail, keys as their opcode has them.
    """

    def __init__(self, bhs, data=b"", conn=0, sent=False):
        self.bhs = bytes(bhs)
        self.data = bytes(data)
        self.conn = conn
        self.sent = sent
        self.time = time.monotonic()
        b = self.bhs
        self.opcode = b[0] & 0x3F
        self.name = OPCODE_NAMES.get(self.opcode, "opcode 0x%02x" % self.opcode)
        self.immediate = bool(b[0] & 0x40)
        self.flags = b[1]
        self.final = bool(b[1] & 0x80)
        self.ahs_len = b[4] * 4
        self.dsl = int.from_bytes(b[5:8], "big")
        self.lun = b[8:16]
        self.lun_number = lun_number(self.lun)
        self.itt = be32(b, 16)
        w20, w24, w28, w32, w36, w40, w44 = struct.unpack_from(">7I", b, 20)
        op = self.opcode
        if op in (OP_SCSI_CMD,):
            self.read = bool(b[1] & 0x40)
            self.write = bool(b[1] & 0x20)
            self.attr = b[1] & 7
            self.edtl, self.cmd_sn, self.exp_stat_sn = w20, w24, w28
            self.cdb = b[32:48]
        elif op == OP_DATA_OUT:
            self.ttt, self.exp_stat_sn = w20, w28
            self.data_sn, self.buffer_offset = w36, w40
        elif op == OP_NOP_OUT:
            self.ttt, self.cmd_sn, self.exp_stat_sn = w20, w24, w28
        elif op == OP_TMF_REQ:
            self.function = b[1] & 0x7F
            self.ref_itt, self.cmd_sn, self.exp_stat_sn = w20, w24, w28
            self.ref_cmd_sn, self.exp_data_sn = w32, w36
        elif op in (OP_LOGIN_REQ, OP_LOGIN_RSP):
            self.transit = bool(b[1] & 0x80)
            self.cont = bool(b[1] & 0x40)
            self.csg = (b[1] >> 2) & 3
            self.nsg = b[1] & 3
            self.version_max, self.version_min = b[2], b[3]
            self.isid = b[8:14]
            self.tsih = be16(b, 14)
            self.keys = parse_text(self.data)
            if op == OP_LOGIN_REQ:
                self.cid, self.cmd_sn, self.exp_stat_sn = w20 >> 16, w24, w28
            else:
                self.version_active = b[3]
                self.stat_sn, self.exp_cmd_sn, self.max_cmd_sn = w24, w28, w32
                self.status_class, self.status_detail = b[36], b[37]
        elif op in (OP_TEXT_REQ, OP_TEXT_RSP):
            self.cont = bool(b[1] & 0x40)
            self.ttt = w20
            self.keys = parse_text(self.data)
            if op == OP_TEXT_REQ:
                self.cmd_sn, self.exp_stat_sn = w24, w28
            else:
                self.stat_sn, self.exp_cmd_sn, self.max_cmd_sn = w24, w28, w32
        elif op == OP_LOGOUT_REQ:
            self.reason = b[1] & 0x7F
            self.cid = w20 >> 16
            self.cmd_sn, self.exp_stat_sn = w24, w28
        elif op == OP_SNACK:
            self.type = b[1] & 0x0F
            self.ttt, self.exp_stat_sn = w20, w28
            self.beg_run, self.run_length = w40, w44
        else:
            # Target PDUs: StatSN, ExpCmdSN and MaxCmdSN sit at 24, 28 and 32.
            self.ttt = w20
            self.stat_sn, self.exp_cmd_sn, self.max_cmd_sn = w24, w28, w32
            if op == OP_SCSI_RSP:
                self.response, self.status = b[2], b[3]
                self.exp_data_sn, self.residual = w36, w44
            elif op == OP_DATA_IN:
                self.ack = bool(b[1] & 0x40)
                self.status_present = bool(b[1] & 0x01)
                self.status = b[3]
                self.data_sn, self.buffer_offset, self.residual = w36, w40, w44
            elif op == OP_R2T:
                self.r2t_sn, self.buffer_offset, self.desired_length = w36, w40, w44
            elif op == OP_ASYNC:
                self.event, self.vcode = b[36], b[37]
            elif op == OP_REJECT:
                self.reason = b[2]
            elif op == OP_TMF_RSP:
                self.response = b[2]
            elif op == OP_LOGOUT_RSP:
                self.response = b[2]

    def key(self, name):
        """The value of a key in this PDU's text, or None."""
        for k, v in getattr(self, "keys", []):
            if k == name:
                return v
        return None

    def __repr__(self):
        return "<%s itt=0x%08x dsl=%d conn=%d%s>" % (self.name, self.itt, self.dsl, self.conn,
                                                     " sent" if self.sent else "")


class Drop(Exception):
    """The connection ends: the peer closed it, the scenario closed it, or a protocol error."""


class WriteRecord:
    def __init__(self, lun, lba, blocks, itt, cmd_sn, cid, data):
        self.lun, self.lba, self.blocks = lun, lba, blocks
        self.itt, self.cmd_sn, self.cid = itt, cmd_sn, cid
        self.digest = hashlib.sha256(data).hexdigest()[:16]
        self.time = time.monotonic()

    def __repr__(self):
        return "<write lun %d lba %d blocks %d itt 0x%08x cmd_sn 0x%08x cid %d>" % (
            self.lun, self.lba, self.blocks, self.itt, self.cmd_sn, self.cid)


class Session:
    """What outlives a connection: command numbering and tasks kept for reassignment."""

    def __init__(self, isid, cmd_sn):
        self.isid = isid
        self.tsih = 0
        self.exp_cmd_sn = cmd_sn
        self.received = set()     # CmdSNs at or above exp_cmd_sn that arrived early
        self.max_cmd_sn = (cmd_sn - 1) & 0xFFFFFFFF   # the highest MaxCmdSN announced
        self.params = {}
        self.conns = {}           # cid -> Connection
        self.kept_tasks = {}      # itt -> Task of a connection logged out with reason 2
        self.lost_tasks = {}      # cid -> {itt: Task} of a connection that failed (ERL 2)


class Task:
    """A command in progress at the target."""

    def __init__(self, conn, pdu, lun, lba, nblocks):
        self.itt = pdu.itt
        self.cmd = pdu
        self.lun = lun
        self.lba = lba
        self.nblocks = nblocks
        self.edtl = pdu.edtl
        self.write = pdu.write
        self.buf = bytearray(self.edtl) if pdu.write else None
        self.have = bytearray(self.edtl) if pdu.write else None   # 1 per byte received
        self.received = 0
        self.unsolicited = 0
        self.r2ts = {}        # ttt -> (offset, length, r2t_sn)
        self.r2t_sn = 0
        self.datain = []      # (bhs, data) of each Data-In sent, by DataSN
        self.number = 0       # reads or writes counted at the target
        self.next_data_sn = {}   # ttt -> next DataSN expected
        self.missing = []     # (offset, length) dropped for a data digest error


class Connection:
    """One TCP connection to the initiator: login, then full feature phase."""

    def __init__(self, target, sock, index):
        self.t = target
        self.sock = sock
        self.index = index
        self.send_lock = threading.Lock()
        self.status_lock = threading.RLock()   # StatSN order is the order on the wire
        self.stat_sn = target.first_stat_sn()
        self.session = None
        self.cid = None
        self.leading = None
        self.hdr_digest = False
        self.data_digest = False
        self.params = {}
        self.initiator_mrdsl = 8192
        self.full_feature = False
        self.closed = False
        self.tasks = {}
        self.next_ttt = 1
        self.statuses = {}    # StatSN -> (bhs, data) for Status SNACK
        self.last_exp_stat_sn = None

    def say(self, msg):
        self.t.say("conn %d: %s" % (self.index, msg))

    def violation(self, msg):
        self.t.violation("conn %d: %s" % (self.index, msg))

    # --- wire -------------------------------------------------------------------------
    def recv_exact(self, n):
        out = bytearray()
        while len(out) < n:
            if self.closed:
                raise Drop("closed by the target")   # nothing more is read from it
            try:
                chunk = self.sock.recv(n - len(out))
            except OSError as e:
                raise Drop("receive failed: %s" % e)
            if not chunk:
                raise Drop("closed by the initiator")
            out += chunk
        return bytes(out)

    def recv_pdu(self):
        bhs = self.recv_exact(BHS_LEN)
        ahs = self.recv_exact(bhs[4] * 4)
        if self.hdr_digest and self.full_feature:
            got = self.recv_exact(4)
            if got != digest_bytes(bhs + ahs):
                self.violation("header digest error in a PDU from the initiator")
                raise Drop("header digest error from the initiator")
        dsl = int.from_bytes(bhs[5:8], "big")
        limit = self.t.mrdsl if self.full_feature else 8192
        if dsl > limit:
            self.violation("%s with a %d-byte data segment, more than the %d the target "
                           "declared" % (OPCODE_NAMES.get(bhs[0] & 0x3F, "PDU"), dsl, limit))
        data = b""
        if dsl:
            padded = self.recv_exact(pad4(dsl))
            if padded[dsl:] != bytes(pad4(dsl) - dsl):
                self.violation("non-zero padding after a data segment")
            if self.data_digest and self.full_feature:
                got = self.recv_exact(4)
                if got != digest_bytes(padded):
                    self.violation("data digest error in a PDU from the initiator")
                    raise Drop("data digest error from the initiator")
            data = padded[:dsl]
        pdu = Pdu(bhs, data, conn=self.index)
        self.t.record(pdu)
        return pdu

    def send_raw(self, bhs, data=b"", bad_hdr_digest=False, bad_data_digest=False,
                 record=True):
        """Send one PDU; bhs is completed with the data segment length."""
        bhs = bytearray(bhs)
        bhs[5:8] = len(data).to_bytes(3, "big")
        out = bytearray(bhs)
        if self.hdr_digest and self.full_feature:
            d = bytearray(digest_bytes(bytes(bhs)))
            if bad_hdr_digest:
                d[0] ^= 0xFF
            out += d
        if data:
            padded = bytes(data) + bytes(pad4(len(data)) - len(data))
            out += padded
            if self.data_digest and self.full_feature:
                d = bytearray(digest_bytes(padded))
                if bad_data_digest:
                    d[0] ^= 0xFF
                out += d
        with self.send_lock:
            if self.closed:
                raise Drop("connection already closed")
            # In the trace before it is on the wire: a test that saw the initiator act on
            # it must find it there.
            if record:
                self.t.record(Pdu(bhs, data, conn=self.index, sent=True))
            try:
                self.sock.sendall(out)
            except OSError as e:
                raise Drop("send failed: %s" % e)
        return bytes(bhs)

    def close(self):
        """Close the connection at once (from any thread)."""
        with self.send_lock:
            if self.closed:
                return
            self.closed = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    # --- sequence numbers ---------------------------------------------------------------
    def take_stat_sn(self):
        sn = self.stat_sn
        self.stat_sn = (self.stat_sn + 1) & 0xFFFFFFFF
        return sn

    def window(self):
        s = self.session
        exp = s.exp_cmd_sn if s else 0
        mx = (exp + self.t.window - 1) & 0xFFFFFFFF
        if self.t.max_cmd_sn_fixed is not None:
            mx = self.t.max_cmd_sn_fixed
        if s and sn_lt(s.max_cmd_sn, mx):
            s.max_cmd_sn = mx
        return exp, mx

    def header(self, opcode, flags=0x80, itt=RSVD, lun=bytes(8), ttt=RSVD, stat_sn=0):
        b = bytearray(BHS_LEN)
        b[0] = opcode
        b[1] = flags
        b[8:16] = lun
        with self.t.lock:
            exp, mx = self.window()
        struct.pack_into(">IIIII", b, 16, itt, ttt, stat_sn, exp, mx)
        return b

    def note_command(self, pdu):
        """CmdSN and ExpStatSN bookkeeping for a PDU from the initiator (RFC 7143 4.2.2)."""
        s = self.session
        with self.t.lock:
            if pdu.immediate:
                if pdu.cmd_sn != s.exp_cmd_sn and not sn_lt(s.exp_cmd_sn, pdu.cmd_sn):
                    pass   # an immediate PDU carries the next CmdSN, not consumed
            else:
                if not sn_le(pdu.cmd_sn, s.max_cmd_sn):
                    self.violation("%s with CmdSN 0x%08x beyond MaxCmdSN 0x%08x" %
                                   (pdu.name, pdu.cmd_sn, s.max_cmd_sn))
                if sn_lt(pdu.cmd_sn, s.exp_cmd_sn) or pdu.cmd_sn in s.received:
                    if not self.t.retry_allowed(pdu):
                        self.violation("%s with CmdSN 0x%08x, already used (ExpCmdSN 0x%08x)"
                                       % (pdu.name, pdu.cmd_sn, s.exp_cmd_sn))
                else:
                    s.received.add(pdu.cmd_sn)
                    while s.exp_cmd_sn in s.received:
                        s.received.discard(s.exp_cmd_sn)
                        s.exp_cmd_sn = (s.exp_cmd_sn + 1) & 0xFFFFFFFF
            self.window()
        if sn_lt(self.stat_sn, pdu.exp_stat_sn):
            self.violation("%s acknowledges StatSN up to 0x%08x, but the next StatSN is "
                           "0x%08x" % (pdu.name, (pdu.exp_stat_sn - 1) & 0xFFFFFFFF,
                                       self.stat_sn))
        if self.last_exp_stat_sn is not None and sn_lt(pdu.exp_stat_sn, self.last_exp_stat_sn):
            self.violation("ExpStatSN went back from 0x%08x to 0x%08x" %
                           (self.last_exp_stat_sn, pdu.exp_stat_sn))
        self.last_exp_stat_sn = pdu.exp_stat_sn

    def forget_command(self, pdu):
        """As though pdu had never arrived: its CmdSN is expected again."""
        with self.t.lock:
            s = self.session
            if pdu.immediate:
                return
            if sn_lt(pdu.cmd_sn, s.exp_cmd_sn):
                # Everything from it on is expected again; later ones stay received.
                n = (s.exp_cmd_sn - pdu.cmd_sn) & 0xFFFFFFFF
                for i in range(1, n):
                    s.received.add((pdu.cmd_sn + i) & 0xFFFFFFFF)
                s.exp_cmd_sn = pdu.cmd_sn
            else:
                s.received.discard(pdu.cmd_sn)

    # --- login ---------------------------------------------------------------------------
    def login(self):
        """The login phase; True when it reached full feature phase."""
        text = b""
        stage_first = {0: True, 1: True}
        delays = self.t.delay_transit
        chap = {"state": "idle"}
        seen_keys = {}
        expect_exp_stat_sn = None
        for _ in range(64):
            pdu = self.recv_pdu()
            if pdu.opcode != OP_LOGIN_REQ:
                self.violation("%s during the login phase" % pdu.name)
                raise Drop("expected a Login Request, got %s" % pdu.name)
            if not pdu.immediate:
                self.violation("Login Request without the I bit")
            if not pdu.version_min <= 0 <= pdu.version_max:
                self.violation("Login Request for versions %d to %d" %
                               (pdu.version_min, pdu.version_max))
            if pdu.transit and pdu.cont:
                self.violation("Login Request with both the T and C bits")
            if expect_exp_stat_sn is not None and pdu.exp_stat_sn != expect_exp_stat_sn:
                self.violation("Login Request with ExpStatSN 0x%08x after a response with "
                               "StatSN 0x%08x" % (pdu.exp_stat_sn,
                                                  (expect_exp_stat_sn - 1) & 0xFFFFFFFF))
            if self.cid is None:
                self.cid = pdu.cid
                self.isid = pdu.isid
                self.login_tsih = pdu.tsih
                self.leading = pdu.tsih == 0
                self.first_login = pdu
            csg, nsg = pdu.csg, pdu.nsg
            text += pdu.data
            if self.session is None:
                with self.t.lock:
                    if pdu.tsih:
                        self.session = self.t.sessions.get(pdu.tsih)
                if self.session is None:
                    self.session = Session(pdu.isid, pdu.cmd_sn)
            if pdu.cont:
                rsp = LoginResponse(csg, csg, False)
                expect_exp_stat_sn = self.send_login_rsp(pdu, rsp)
                continue
            keys = parse_text(text)
            text = b""
            for k, v in keys:
                if v is None:
                    self.violation("login text item %r without '='" % k)
                    continue
                if k in seen_keys and not k.startswith("CHAP_"):
                    self.violation("key %s sent twice in the login (%s, then %s)" %
                                   (k, seen_keys[k], v))
                seen_keys[k] = v
            rsp = self.login_answer(pdu, keys, stage_first, chap)
            if rsp.transit and delays > 0 and rsp.status == (0, 0) and csg == 1:
                delays -= 1
                rsp.transit = False
                rsp.nsg = csg
            self.t.login_hook(self, pdu, keys, rsp)
            if rsp.status == (0, 0) and rsp.transit and rsp.nsg == 3:
                self.finish_login()
            expect_exp_stat_sn = self.send_login_rsp(pdu, rsp)
            if rsp.status != (0, 0):
                self.say("login refused with status 0x%02x%02x" % rsp.status)
                return False
            if rsp.transit and rsp.nsg == 3:
                self.full_feature = True
                self.say("logged in: TSIH %d, CID %d, HeaderDigest %s, DataDigest %s" %
                         (self.session.tsih, self.cid, "CRC32C" if self.hdr_digest else "None",
                          "CRC32C" if self.data_digest else "None"))
                self.t.after_login(self)
                return True
        raise Drop("login did not finish within 64 exchanges")

    def login_answer(self, pdu, keys, stage_first, chap):
        """The Login Response the negotiation rules give for one whole request."""
        t = self.t
        csg = pdu.csg
        rsp = LoginResponse(csg, pdu.nsg if pdu.transit else csg, pdu.transit)
        if t.redirect:
            addr, port = t.redirect[0], t.redirect[1]
            detail = t.redirect[2] if len(t.redirect) > 2 else 1
            rsp.transit = False
            rsp.status = (0x01, detail)
            rsp.keys.append(("TargetAddress", "%s:%d,1" % (addr, port)))
            return rsp
        kd = dict(k for k in keys if k[1] is not None)
        if csg == 0 and stage_first[0]:
            if kd.get("SessionType", "Normal") not in ("Normal", "Discovery"):
                rsp.status = (0x02, 0x09)
                return rsp
            self.session_type = kd.get("SessionType", "Normal")
            if self.leading and "InitiatorName" not in kd:
                rsp.status = (0x02, 0x07)
                return rsp
            if self.session_type == "Normal" and self.leading and \
                    kd.get("TargetName") != t.iqn:
                rsp.status = (0x02, 0x03)
                return rsp
            if pdu.tsih and pdu.tsih not in t.sessions:
                rsp.status = (0x02, 0x0A)
                return rsp
        if csg == 3 or pdu.csg == 2:
            self.violation("Login Request with CSG %d" % csg)
            rsp.status = (0x02, 0x0B)
            return rsp
        if stage_first.get(csg):
            stage_first[csg] = False
            rsp.keys.extend(t.declare.get(csg, []))
            if csg == 0:
                rsp.keys.append(("TargetPortalGroupTag", "1"))
        auth_done = True
        for k, v in keys:
            if v is None or k in ("InitiatorName", "InitiatorAlias", "TargetName",
                                  "SessionType"):
                continue
            if k == "AuthMethod":
                if csg != 0:
                    self.violation("AuthMethod in the operational stage")
                offered = v.split(",")
                if t.chap:
                    pick = "CHAP" if "CHAP" in offered else "Reject"
                else:
                    pick = "None" if "None" in offered else "Reject"
                chap["method"] = pick
                self.add_answer(rsp, k, pick)
                if pick == "Reject":
                    rsp.status = (0x02, 0x01)
                continue
            if k.startswith("CHAP_"):
                continue
            self.negotiate(rsp, k, v)
        if csg == 0 and t.chap:
            auth_done = self.chap_step(kd, rsp, chap)
        if rsp.status != (0, 0):
            rsp.transit = False
            return rsp
        if not auth_done:
            rsp.transit = False
            rsp.nsg = csg
        if rsp.transit and rsp.nsg == 3 and "MaxRecvDataSegmentLength" not in self.params_sent():
            self.add_answer(rsp, "MaxRecvDataSegmentLength", str(t.mrdsl))
        return rsp

    def params_sent(self):
        return self.__dict__.setdefault("_declared", set())

    def add_answer(self, rsp, key, value):
        """One key of the response, unless answers{} says otherwise; remembered as sent."""
        t = self.t
        if key in t.answers:
            value = t.answers[key]
            if value is None:
                return
        rsp.keys.append((key, value))
        self.params_sent().add(key)
        self.apply_param(key, value)

    def apply_param(self, key, value):
        if value in SPECIAL_VALUES:
            return
        if key == "HeaderDigest":
            self.hdr_digest = value == "CRC32C"
        elif key == "DataDigest":
            self.data_digest = value == "CRC32C"
        self.params[key] = value

    def negotiate(self, rsp, key, value):
        """Answer one key the initiator offered, by the key's rule (RFC 7143 6.2)."""
        t = self.t
        rule = RULES.get(key)
        prefs = dict(PREFS, **t.prefs)
        if t.digests:
            for k in ("HeaderDigest", "DataDigest"):
                if k not in t.prefs:
                    prefs[k] = "CRC32C,None"
        prefs["MaxConnections"] = str(t.max_connections)
        prefs["ErrorRecoveryLevel"] = str(t.erl)
        if value in SPECIAL_VALUES:
            return
        if rule is None:
            self.add_answer(rsp, key, "NotUnderstood")
            return
        if rule == "declare":
            if key == "MaxRecvDataSegmentLength":
                try:
                    n = int(value, 0)
                except ValueError:
                    self.violation("MaxRecvDataSegmentLength=%s is not a number" % value)
                    return
                if not 512 <= n <= (1 << 24) - 1:
                    self.violation("MaxRecvDataSegmentLength=%d outside 512 to 2^24-1" % n)
                self.initiator_mrdsl = n
                if key not in self.params_sent():
                    self.add_answer(rsp, key, str(t.mrdsl))
            return
        ours = prefs[key]
        if rule == "list":
            mine = ours.split(",")
            pick = next((x for x in value.split(",") if x in mine), "Reject")
            self.add_answer(rsp, key, pick)
        elif rule in ("and", "or"):
            if value not in ("Yes", "No"):
                self.add_answer(rsp, key, "Reject")
                return
            a, b = value == "Yes", ours == "Yes"
            self.add_answer(rsp, key, "Yes" if (a and b if rule == "and" else a or b)
                            else "No")
        else:
            try:
                n = int(value, 0)
            except ValueError:
                self.add_answer(rsp, key, "Reject")
                return
            m = int(ours, 0)
            self.add_answer(rsp, key, str(min(n, m) if rule == "min" else max(n, m)))

    def chap_step(self, kd, rsp, chap):
        """The target side of CHAP (RFC 7143 12.1.3); True once the initiator is
        authenticated (and, when mutual, the target has answered its challenge)."""
        t = self.t
        c = t.chap
        state = chap["state"]
        if c.get("skip"):
            return True
        if chap.get("method") == "CHAP" and state == "idle":
            chap["state"] = "chosen"
            return False
        if state == "chosen" and "CHAP_A" in kd:
            offered = kd["CHAP_A"].split(",")
            want = str(c.get("alg", 5))
            if want not in offered:
                self.add_answer(rsp, "CHAP_A", "Reject")
                rsp.status = (0x02, 0x01)
                return False
            chap["alg"] = int(want)
            chap["id"] = c.get("id", random.randrange(256))
            chap["challenge"] = c.get("challenge", secrets.token_bytes(16))
            rsp.keys.append(("CHAP_A", want))
            rsp.keys.append(("CHAP_I", str(chap["id"])))
            rsp.keys.append(("CHAP_C", "0x" + chap["challenge"].hex()))
            chap["state"] = "asked"
            return False
        if state == "asked" and "CHAP_R" in kd:
            name, resp = kd.get("CHAP_N"), kd["CHAP_R"]
            expect = chap_hash(chap["alg"], chap["id"], c["secret"].encode(), chap["challenge"])
            got = decode_chap_binary(resp)
            chap["initiator_name"] = name
            if name != c["user"] or got != expect:
                self.say("CHAP: wrong name or response from the initiator")
                rsp.status = (0x02, 0x01)
                return False
            chap["state"] = "done"
            if "CHAP_C" in kd:
                if not c.get("target_user"):
                    rsp.status = (0x02, 0x01)
                    return False
                ident = int(kd.get("CHAP_I", "0"), 0)
                challenge = decode_chap_binary(kd["CHAP_C"])
                answer = chap_hash(chap["alg"], ident, c["target_secret"].encode(), challenge)
                if c.get("wrong_target_response"):
                    answer = bytes(len(answer))
                rsp.keys.append(("CHAP_N", c["target_user"]))
                rsp.keys.append(("CHAP_R", "0x" + answer.hex()))
            elif c.get("target_user"):
                self.say("CHAP: the initiator did not ask for mutual authentication")
            return True
        if state == "done":
            return True
        return False

    def finish_login(self):
        t = self.t
        with t.lock:
            s = self.session
            if self.leading:
                s.tsih = t.next_tsih
                t.next_tsih += 1
                t.sessions[s.tsih] = s
                s.params = dict(self.params)
            old = s.conns.get(self.cid)
            s.conns[self.cid] = self
        if old is not None and old is not self:
            self.say("connection reinstatement of CID %d" % self.cid)
            old.close()

    def send_login_rsp(self, req, rsp):
        if rsp.suppress:
            return None
        b = bytearray(BHS_LEN)
        b[0] = OP_LOGIN_RSP
        b[1] = (0x80 if rsp.transit else 0) | (0x40 if rsp.cont else 0) | \
            (rsp.csg & 3) << 2 | (rsp.nsg & 3 if rsp.transit else 0)
        b[2] = rsp.version_max
        b[3] = rsp.version_active
        b[8:14] = req.bhs[8:14]
        tsih = req.tsih
        if rsp.transit and rsp.nsg == 3 and rsp.status == (0, 0):
            tsih = self.session.tsih
        if rsp.tsih is not None:
            tsih = rsp.tsih
        struct.pack_into(">H", b, 14, tsih)
        exp = self.session.exp_cmd_sn if self.session and not self.leading else req.cmd_sn
        if self.leading and self.session:
            self.session.exp_cmd_sn = req.cmd_sn
        mx = (exp + self.t.window - 1) & 0xFFFFFFFF
        if self.t.max_cmd_sn_fixed is not None:
            mx = self.t.max_cmd_sn_fixed
        if self.session and sn_lt(self.session.max_cmd_sn, mx):
            self.session.max_cmd_sn = mx
        if rsp.max_cmd_sn is not None:
            mx = rsp.max_cmd_sn
            if self.session:
                self.session.max_cmd_sn = mx
        stat_sn = self.take_stat_sn() if rsp.stat_sn is None else rsp.stat_sn
        struct.pack_into(">IIIII", b, 16, req.itt, 0, stat_sn, exp, mx)
        b[36], b[37] = rsp.status
        payload = rsp.raw_text if rsp.raw_text is not None else text_bytes(rsp.keys)
        if rsp.split and 0 < rsp.split < len(payload):
            # The first part with the C bit and T clear (RFC 7143 11.13): the initiator
            # asks for the rest with an empty Login Request.
            first = bytearray(b)
            first[1] = (first[1] | 0x40) & ~0x83
            self.send_raw(first, payload[:rsp.split])
            nxt = self.recv_pdu()
            if nxt.opcode != OP_LOGIN_REQ or nxt.dsl or nxt.transit or nxt.cont:
                self.violation("the answer to a Login Response with the C bit is not an "
                               "empty Login Request without T and C (%r)" % nxt)
            if nxt.exp_stat_sn != (stat_sn + 1) & 0xFFFFFFFF:
                self.violation("Login Request with ExpStatSN 0x%08x after StatSN 0x%08x" %
                               (nxt.exp_stat_sn, stat_sn))
            stat_sn = self.take_stat_sn()
            struct.pack_into(">I", b, 24, stat_sn)
            payload = payload[rsp.split:]
        self.send_raw(b, payload)
        return (stat_sn + 1) & 0xFFFFFFFF

    # --- full feature phase -----------------------------------------------------------------
    def serve(self):
        while True:
            pdu = self.recv_pdu()
            op = pdu.opcode
            if op in (OP_SCSI_CMD, OP_NOP_OUT, OP_TMF_REQ, OP_LOGOUT_REQ, OP_TEXT_REQ):
                self.note_command(pdu)
            else:
                if sn_lt(self.stat_sn, pdu.exp_stat_sn):
                    self.violation("%s acknowledges StatSN 0x%08x not sent yet" %
                                   (pdu.name, (pdu.exp_stat_sn - 1) & 0xFFFFFFFF))
            if self.t.on_pdu(self, pdu):
                continue
            if op == OP_SCSI_CMD:
                self.scsi_command(pdu)
            elif op == OP_DATA_OUT:
                self.data_out(pdu)
            elif op == OP_NOP_OUT:
                self.nop_out(pdu)
            elif op == OP_TMF_REQ:
                self.tmf(pdu)
            elif op == OP_LOGOUT_REQ:
                if self.logout(pdu):
                    return
            elif op == OP_TEXT_REQ:
                self.text(pdu)
            elif op == OP_SNACK:
                self.snack(pdu)
            else:
                self.violation("the initiator sent opcode 0x%02x" % op)
                raise Drop("the initiator sent opcode 0x%02x" % op)

    def assign_stat_sn(self, bhs, data=b""):
        """Give a status PDU its StatSN and keep it for a Status SNACK; whether it is to be
        left out (statsn_gap)."""
        sn = self.take_stat_sn()
        struct.pack_into(">I", bhs, 24, sn)
        self.statuses[sn] = (bytes(bhs), bytes(data))
        number = self.t.count_status()
        if number in self.t.statsn_gap:
            self.say("leaving a StatSN gap: status %d (StatSN 0x%08x) not sent" % (number, sn))
            return sn, True
        return sn, False

    def send_status(self, bhs, data=b"", **kw):
        """Send a PDU that carries a StatSN (taken here), keeping it for a Status SNACK."""
        with self.status_lock:
            sn, skip = self.assign_stat_sn(bhs, data)
            if not skip:
                self.send_raw(bhs, data, **kw)
        return sn

    def send_nop_in(self, ttt=RSVD, itt=RSVD, lun=bytes(8), data=b""):
        """NOP-In: a ping (ttt not RSVD: the initiator must answer) or, with both tags
        reserved, an update of ExpCmdSN/MaxCmdSN (RFC 7143 11.19)."""
        b = self.header(OP_NOP_IN, 0x80, itt, lun=lun, ttt=ttt, stat_sn=self.stat_sn)
        if itt != RSVD:
            return self.send_status(b, data)
        return self.send_raw(b, data)

    def send_async(self, event, param1=0, param2=0, param3=0, data=b"", vcode=0):
        """Asynchronous Message (RFC 7143 11.9)."""
        b = self.header(OP_ASYNC, 0x80, RSVD, ttt=0)   # bytes 20-23 reserved (11.9)
        b[8:16] = bytes(8)
        b[36] = event
        b[37] = vcode
        struct.pack_into(">HHH", b, 38, param1, param2, param3)
        self.say("AsyncEvent %d (parameters %d, %d, %d)" % (event, param1, param2, param3))
        return self.send_status(b, data)

    def send_reject(self, pdu, reason):
        """Reject carrying the rejected PDU's header (RFC 7143 11.17)."""
        b = self.header(OP_REJECT, 0x80, RSVD)
        b[2] = reason
        struct.pack_into(">I", b, 20, 0)
        self.say("Reject, reason 0x%02x, of %r" % (reason, pdu))
        return self.send_status(b, pdu.bhs)

    def respond(self, pdu, status, sense=None, residual=None, response=0, itt=None):
        """SCSI Response (RFC 7143 11.4)."""
        b = self.header(OP_SCSI_RSP, 0x80, pdu.itt if itt is None else itt)
        b[2] = response
        b[3] = status
        struct.pack_into(">I", b, 20, 0)
        if residual:
            flag, count = residual
            b[1] |= flag
            struct.pack_into(">I", b, 44, count)
        task = self.tasks.get(pdu.itt)
        if task and task.datain:
            struct.pack_into(">I", b, 36, len(task.datain))
        data = b""
        if sense:
            data = struct.pack(">H", len(sense)) + sense
        self.tasks.pop(pdu.itt, None)
        return self.send_status(b, data)

    def check(self, pdu, key, asc, ascq=0):
        return self.respond(pdu, CHECK_CONDITION, sense_fixed(key, asc, ascq))

    def take_ttt(self):
        ttt = self.next_ttt
        self.next_ttt = (self.next_ttt + 1) & 0x7FFFFFFF or 1
        return ttt

    # --- SCSI --------------------------------------------------------------------------------
    def scsi_command(self, pdu):
        t = self.t
        if pdu.itt == RSVD:
            self.violation("SCSI Command with the reserved task tag 0xffffffff")
        if pdu.itt in self.tasks:
            self.violation("SCSI Command with task tag 0x%08x, still in use" % pdu.itt)
        if pdu.immediate:
            self.violation("SCSI Command sent for immediate delivery")
        if pdu.read and pdu.write:
            self.violation("SCSI Command with both R and W (bidirectional) bits")
        lun = pdu.lun_number
        op = pdu.cdb[0]
        if pdu.dsl and not pdu.write:
            self.violation("immediate data with a command that is not a write")
        if lun not in t.disks:
            if op == 0x12:
                self.send_data_in(pdu, (bytes([0x7F]) + bytes(35))[:be16(pdu.cdb, 3)])
            elif op == 0xA0:
                self.report_luns(pdu)
            else:
                self.check(pdu, ILLEGAL_REQUEST, 0x25)
            return
        if t.on_command(self, pdu):
            return
        if op in (0x28, 0x88):
            self.read(pdu)
        elif op in (0x2A, 0x8A):
            self.write(pdu)
        elif op == 0x00:
            self.respond(pdu, GOOD)
        elif op == 0x12:
            self.inquiry(pdu)
        elif op == 0xA0:
            self.report_luns(pdu)
        elif op == 0x25:
            n = len(t.disks[lun]) // BLOCK
            self.send_data_in(pdu, struct.pack(">II", min(n - 1, RSVD), BLOCK))
        elif op == 0x9E and pdu.cdb[1] & 0x1F == 0x10:
            n = len(t.disks[lun]) // BLOCK
            d = struct.pack(">QI", n - 1, BLOCK) + bytes(20)
            self.send_data_in(pdu, d[:be32(pdu.cdb, 10)])
        elif op == 0x1A:
            self.mode_sense6(pdu)
        elif op in (0x35, 0x91):
            self.respond(pdu, GOOD)
        else:
            self.check(pdu, ILLEGAL_REQUEST, 0x20)

    def lba_range(self, pdu):
        cdb = pdu.cdb
        if cdb[0] in (0x28, 0x2A):
            lba, n = be32(cdb, 2), be16(cdb, 7)
        else:
            lba, n = struct.unpack_from(">Q", cdb, 2)[0], be32(cdb, 10)
        return lba, n

    def read(self, pdu):
        t = self.t
        lba, n = self.lba_range(pdu)
        disk = t.disks[pdu.lun_number]
        if (lba + n) * BLOCK > len(disk):
            self.check(pdu, ILLEGAL_REQUEST, 0x21)
            return
        if pdu.edtl != n * BLOCK:
            self.violation("READ of %d blocks with expected data transfer length %d" %
                           (n, pdu.edtl))
        if not pdu.read:
            self.violation("READ without the R bit")
        with t.lock:
            data = bytes(disk[lba * BLOCK:(lba + n) * BLOCK])
            t.reads += 1
            number = t.reads
        task = Task(self, pdu, pdu.lun_number, lba, n)
        task.number = number
        self.tasks[pdu.itt] = task
        self.say("READ %d: lba %d, %d blocks (task 0x%08x, CmdSN 0x%08x)" %
                 (number, lba, n, pdu.itt, pdu.cmd_sn))
        self.send_data_in(pdu, data, task=task)

    def send_data_in(self, pdu, data, task=None, status=GOOD):
        """Data-In PDUs of datain_chunk bytes (at most the initiator's
        MaxRecvDataSegmentLength), the status in the last one (S bit) with any residual, or
        in a SCSI Response (status_in_datain False)."""
        t = self.t
        edtl = pdu.edtl
        residual = None
        if len(data) > edtl:
            residual = (0x04, len(data) - edtl)
            data = data[:edtl]
        elif len(data) < edtl:
            residual = (0x02, edtl - len(data))
        if task is None:
            task = Task(self, pdu, pdu.lun_number, 0, 0)
            self.tasks[pdu.itt] = task
        if not data:
            self.respond(pdu, status, residual=residual)
            return
        with self.status_lock:
            self._send_data_in(pdu, data, task, status, residual)

    def _send_data_in(self, pdu, data, task, status, residual):
        t = self.t
        chunk = min(t.datain_chunk or self.initiator_mrdsl, self.initiator_mrdsl)
        max_burst = int(self.session.params.get("MaxBurstLength", "262144"))
        off = 0
        erl = int(self.session.params.get("ErrorRecoveryLevel", "0"))
        while off < len(data):
            burst_left = max_burst - off % max_burst
            n = min(len(data) - off, chunk, burst_left)
            last = off + n == len(data)
            collapse = last and t.status_in_datain
            flags = 0x80 if last or n == burst_left else 0
            data_sn = len(task.datain)
            b = self.header(OP_DATA_IN, flags, pdu.itt)
            b[8:16] = pdu.lun if t.datain_lun else bytes(8)
            if erl >= 1 and t.datain_ack_every and (data_sn + 1) % t.datain_ack_every == 0:
                b[1] |= 0x40
                b[20:24] = struct.pack(">I", self.take_ttt())
                b[8:16] = pdu.lun
            struct.pack_into(">III", b, 36, data_sn, off, 0)
            if collapse:
                b[1] |= 0x01
                b[3] = status
                if residual:
                    b[1] |= residual[0]
                    struct.pack_into(">I", b, 44, residual[1])
            piece = data[off:off + n]
            skip = False
            if collapse:
                _, skip = self.assign_stat_sn(b, piece)
            task.datain.append((bytes(b), piece))
            key = (task.number, data_sn)
            if key in t.drop_datain:
                self.say("dropping Data-In DataSN %d of read %d" % (data_sn, task.number))
            elif not skip:
                self.send_raw(b, piece, bad_hdr_digest=key in t.corrupt_datain_hdr,
                              bad_data_digest=key in t.corrupt_datain_data)
            off += n
        t.done_reads[pdu.itt] = task
        if not t.status_in_datain:
            self.respond(pdu, status, residual=residual)
        else:
            self.tasks.pop(pdu.itt, None)

    def write(self, pdu):
        t = self.t
        lba, n = self.lba_range(pdu)
        disk = t.disks[pdu.lun_number]
        if (lba + n) * BLOCK > len(disk):
            self.check(pdu, ILLEGAL_REQUEST, 0x21)
            return
        if pdu.edtl != n * BLOCK:
            self.violation("WRITE of %d blocks with expected data transfer length %d" %
                           (n, pdu.edtl))
        if not pdu.write:
            self.violation("WRITE without the W bit")
        with t.lock:
            t.writes += 1
            number = t.writes
        task = Task(self, pdu, pdu.lun_number, lba, n)
        task.number = number
        self.tasks[pdu.itt] = task
        p = self.session.params
        immediate_ok = p.get("ImmediateData", "Yes") == "Yes"
        initial_r2t = p.get("InitialR2T", "Yes") == "Yes"
        fbl = int(p.get("FirstBurstLength", "65536"))
        imm = len(pdu.data)
        if imm and not immediate_ok:
            self.violation("immediate data with ImmediateData=No")
        if imm > min(fbl, task.edtl):
            self.violation("%d bytes of immediate data, more than FirstBurstLength %d or the "
                           "expected length %d" % (imm, fbl, task.edtl))
        if not pdu.final and (initial_r2t or imm >= min(fbl, task.edtl)):
            # F is set when no unsolicited Data-Out follows (RFC 7143 11.3).
            self.violation("WRITE without the F bit, but no unsolicited Data-Out may follow")
        task.buf[0:imm] = pdu.data
        task.have[0:imm] = b"\x01" * imm
        task.received = imm
        task.unsolicited = imm
        task.unsolicited_open = not pdu.final
        task.next_data_sn[RSVD] = 0
        self.say("WRITE %d: lba %d, %d blocks (task 0x%08x, CmdSN 0x%08x, %d bytes immediate"
                 "%s)" % (number, lba, n, pdu.itt, pdu.cmd_sn, imm,
                          ", unsolicited Data-Out follow" if task.unsolicited_open else ""))
        if task.unsolicited_open:
            return     # R2Ts once the unsolicited burst has ended (its F bit)
        self.continue_write(task)

    def continue_write(self, task):
        """Ask for the next burst, or finish the command when all its data is in."""
        t = self.t
        if task.missing:
            off, length = task.missing.pop(0)
            max_burst = int(self.session.params.get("MaxBurstLength", "262144"))
            if length > max_burst:
                task.missing.insert(0, (off + max_burst, length - max_burst))
                length = max_burst
            self.say("recovery R2T for %d bytes at offset %d (task 0x%08x)" %
                     (length, off, task.itt))
            self.send_r2t(task, off, length)
            return
        if task.received >= task.edtl and not task.r2ts:
            self.apply_write(task)
            return
        if task.r2ts:
            return
        max_burst = int(self.session.params.get("MaxBurstLength", "262144"))
        want = min(task.edtl - task.received, t.r2t_chunk or max_burst, max_burst)
        self.send_r2t(task, task.received, want)

    def send_r2t(self, task, off, want):
        ttt = self.take_ttt()
        b = self.header(OP_R2T, 0x80, task.itt, lun=task.cmd.lun, ttt=ttt, stat_sn=self.stat_sn)
        struct.pack_into(">III", b, 36, task.r2t_sn, off, want)
        task.r2ts[ttt] = (off, want, task.r2t_sn)
        task.next_data_sn[ttt] = 0
        task.r2t_sn += 1
        self.send_raw(b)
        return ttt

    def apply_write(self, task):
        t = self.t
        if t.on_write_data(self, task):
            return
        with t.lock:
            disk = t.disks[task.lun]
            disk[task.lba * BLOCK:(task.lba + task.nblocks) * BLOCK] = task.buf
            t.write_log.append(WriteRecord(task.lun, task.lba, task.nblocks, task.itt,
                                           task.cmd.cmd_sn, self.cid, bytes(task.buf)))
        self.respond(task.cmd, GOOD)

    def data_out(self, pdu):
        t = self.t
        task = self.tasks.get(pdu.itt)
        if task is None or not task.write:
            self.violation("Data-Out for task 0x%08x, which has no write in progress" % pdu.itt)
            return
        off, n = pdu.buffer_offset, pdu.dsl
        if pdu.ttt == RSVD:
            fbl = int(self.session.params.get("FirstBurstLength", "65536"))
            if not task.unsolicited_open:
                self.violation("unsolicited Data-Out (TTT 0xffffffff) for task 0x%08x, which "
                               "may not have any" % pdu.itt)
            if off != task.unsolicited:
                self.violation("unsolicited Data-Out at offset %d, expected %d" %
                               (off, task.unsolicited))
            if off + n > min(fbl, task.edtl):
                self.violation("unsolicited data up to %d bytes, more than FirstBurstLength "
                               "%d" % (off + n, fbl))
            task.unsolicited = off + n
        else:
            r2t = task.r2ts.get(pdu.ttt)
            if r2t is None:
                self.violation("Data-Out with TTT 0x%08x, which no outstanding R2T has" %
                               pdu.ttt)
                return
            if pdu.lun != task.cmd.lun:
                self.violation("Data-Out for an R2T with LUN %s, the command's is %s" %
                               (pdu.lun.hex(), task.cmd.lun.hex()))
            r_off, r_len, _ = r2t
            if off < r_off or off + n > r_off + r_len:
                self.violation("Data-Out for bytes %d-%d, outside its R2T's %d-%d" %
                               (off, off + n, r_off, r_off + r_len))
        expect_sn = task.next_data_sn.get(pdu.ttt, 0)
        if pdu.data_sn != expect_sn:
            self.violation("Data-Out with DataSN %d where %d was due (task 0x%08x, TTT 0x%08x)"
                           % (pdu.data_sn, expect_sn, pdu.itt, pdu.ttt))
        task.next_data_sn[pdu.ttt] = pdu.data_sn + 1
        if off + n > task.edtl:
            self.violation("Data-Out past the expected data transfer length")
            return
        key = (task.number, pdu.data_sn)
        erl = int(self.session.params.get("ErrorRecoveryLevel", "0"))
        if key in t.dataout_digest_error and not getattr(task, "digest_failed", False):
            task.digest_failed = True
            self.say("treating Data-Out DataSN %d of write %d as a data digest error" %
                     (pdu.data_sn, task.number))
            if erl >= 1:
                task.missing.append((off, n))
            else:
                task.failed = True
        else:
            task.buf[off:off + n] = pdu.data
            task.have[off:off + n] = b"\x01" * n
        task.received = max(task.received, off + n)
        if not pdu.final:
            return
        if pdu.ttt == RSVD:
            task.unsolicited_open = False
            if getattr(task, "failed", False):
                self.check(task.cmd, ABORTED_COMMAND, 0x47, 0x05)
                return
            self.continue_write(task)
            return
        r_off, r_len, _ = task.r2ts.pop(pdu.ttt)
        if off + n != r_off + r_len:
            self.violation("Data-Out with the F bit at byte %d, its R2T ends at %d" %
                           (off + n, r_off + r_len))
        if getattr(task, "failed", False):
            self.check(task.cmd, ABORTED_COMMAND, 0x47, 0x05)
            return
        self.continue_write(task)

    def inquiry(self, pdu):
        cdb = pdu.cdb
        alloc = be16(cdb, 3)
        if cdb[1] & 1:
            page = cdb[2]
            if page == 0x00:
                body = bytes([0x00, 0x80, 0x83])
            elif page == 0x80:
                body = b"CONF%04d" % pdu.lun_number
            elif page == 0x83:
                ident = b"iscsifs-conformance-lun%d" % pdu.lun_number
                body = bytes([0x02, 0x01, 0x00, len(ident)]) + ident
            else:
                self.check(pdu, ILLEGAL_REQUEST, 0x24)
                return
            d = bytes([0x00, page]) + struct.pack(">H", len(body)) + body
        else:
            d = bytearray(36)
            d[2] = 0x05
            d[3] = 0x02
            d[4] = len(d) - 5
            d[7] = 0x02
            d[8:16] = b"ISCSIFS "
            d[16:32] = b"CONFORMANCE     "
            d[32:36] = b"0001"
            d = bytes(d)
        self.send_data_in(pdu, d[:alloc])

    def report_luns(self, pdu):
        luns = sorted(self.t.disks)
        d = struct.pack(">II", 8 * len(luns), 0) + b"".join(lun_bytes(n) for n in luns)
        self.send_data_in(pdu, d[:be32(pdu.cdb, 6)])

    def mode_sense6(self, pdu):
        cdb = pdu.cdb
        page = cdb[2] & 0x3F
        caching = bytes([0x08, 0x12, 0x04]) + bytes(17)
        control = bytes([0x0A, 0x0A, 0x02]) + bytes(9)
        pages = {0x08: caching, 0x0A: control, 0x3F: caching + control}
        if page not in pages:
            self.check(pdu, ILLEGAL_REQUEST, 0x24)
            return
        body = pages[page]
        d = bytes([len(body) + 3, 0x00, 0x00, 0x00]) + body
        alloc = cdb[4]
        if alloc < len(d):
            # Whole mode pages only, with the Mode Data Length of what is returned, so that a
            # decoder of the capture finds no page cut short.
            keep, body2 = 4, b""
            for p in ([caching, control] if page == 0x3F else [body]):
                if keep + len(p) <= alloc:
                    body2 += p
                    keep += len(p)
            d = bytes([len(body2) + 3, 0x00, 0x00, 0x00]) + body2
        self.send_data_in(pdu, d[:alloc])

    # --- other requests -------------------------------------------------------------------
    def nop_out(self, pdu):
        if not pdu.immediate and pdu.itt == RSVD:
            self.violation("NOP-Out with the reserved ITT but without the I bit")
        if pdu.ttt != RSVD:
            if pdu.itt != RSVD:
                self.violation("NOP-Out answering a ping (TTT 0x%08x) with ITT 0x%08x, not "
                               "0xffffffff" % (pdu.ttt, pdu.itt))
            self.t.ping_answers.append(pdu)
            return
        if pdu.itt != RSVD:
            b = self.header(OP_NOP_IN, 0x80, pdu.itt, lun=pdu.lun)
            self.send_status(b, pdu.data)

    def tmf(self, pdu):
        t = self.t
        f = pdu.function
        response = TMF_NOT_SUPPORTED
        erl = int(self.session.params.get("ErrorRecoveryLevel", "0"))
        if not pdu.immediate:
            self.say("Task Management Request without the I bit")
        if f == TMF_ABORT_TASK:
            task = self.tasks.pop(pdu.ref_itt, None)
            response = TMF_COMPLETE if task else TMF_NO_TASK
            self.say("ABORT TASK 0x%08x: %s" % (pdu.ref_itt, "aborted" if task else
                                                "no such task"))
        elif f in (TMF_ABORT_TASK_SET, TMF_LUN_RESET, 3, 6, 7):
            for itt in [i for i, tk in self.tasks.items() if tk.cmd.lun == pdu.lun]:
                del self.tasks[itt]
            response = TMF_COMPLETE
            self.say("task management function %d on LUN %s" % (f, pdu.lun_number))
        elif f == TMF_TASK_REASSIGN:
            if erl < 2:
                response = TMF_REASSIGN_UNSUPPORTED
            else:
                with t.lock:
                    task = self.session.kept_tasks.pop(pdu.ref_itt, None)
                response = TMF_COMPLETE if task else TMF_NO_TASK
                if task:
                    b = self.header(OP_TMF_RSP, 0x80, pdu.itt)
                    struct.pack_into(">I", b, 20, 0)   # reserved (11.6)
                    self.send_status(b)
                    self.reassign(task, pdu)
                    return
        b = self.header(OP_TMF_RSP, 0x80, pdu.itt)
        b[2] = response
        b[8:16] = bytes(8)
        struct.pack_into(">I", b, 20, 0)
        self.send_status(b)

    def reassign(self, task, pdu):
        """A kept task goes on here (TASK REASSIGN, RFC 7143 11.5.1 and 7.2.2)."""
        self.tasks[task.itt] = task
        self.say("task 0x%08x reassigned to CID %d" % (task.itt, self.cid))
        if not task.write:
            old = task.datain
            task.datain = []
            start = pdu.exp_data_sn
            for bhs, piece in old[start:]:
                b = bytearray(bhs)
                b[20:24] = struct.pack(">I", RSVD) if not (b[1] & 0x40) else b[20:24]
                with self.t.lock:
                    exp, mx = self.window()
                struct.pack_into(">II", b, 28, exp, mx)
                if b[1] & 0x01:
                    self.send_status(b, piece)
                else:
                    self.send_raw(b, piece)
            self.tasks.pop(task.itt, None)
            if not self.t.status_in_datain:
                self.respond(task.cmd, GOOD)
            return
        task.r2ts = {}
        holes = []
        i = 0
        while i < task.edtl:
            if task.have[i]:
                i += 1
                continue
            j = i
            while j < task.edtl and not task.have[j]:
                j += 1
            holes.append((i, j - i))
            i = j
        task.missing = holes
        task.received = task.edtl
        self.continue_write(task)

    def logout(self, pdu):
        """Logout Request (RFC 7143 11.14); True when this connection is done."""
        t = self.t
        reason, cid = pdu.reason, pdu.cid
        b = self.header(OP_LOGOUT_RSP, 0x80, pdu.itt)
        struct.pack_into(">I", b, 20, 0)
        other = None
        with t.lock:
            other = self.session.conns.get(cid)
        if reason == 2:
            if int(self.session.params.get("ErrorRecoveryLevel", "0")) < 2:
                b[2] = 2   # connection recovery is not supported
            else:
                struct.pack_into(">HH", b, 40, int(self.session.params.get(
                    "DefaultTime2Wait", "2")), int(self.session.params.get(
                        "DefaultTime2Retain", "20")))
                with t.lock:
                    kept = self.session.lost_tasks.pop(cid, {})
                    if other is not None:
                        kept.update(other.tasks)
                        other.tasks = {}
                    self.session.kept_tasks.update(kept)
                self.say("keeping %d task(s) of CID %d for reassignment" % (len(kept), cid))
        else:
            with t.lock:
                lost = self.session.lost_tasks.pop(cid, None)
            if lost:
                self.say("ending %d task(s) of CID %d" % (len(lost), cid))
            if reason == 1 and cid != self.cid and other is None and lost is None:
                b[2] = 1   # CID not found
        t.logouts.append(pdu)
        self.send_status(b)
        self.say("Logout reason %d for CID %d answered" % (reason, cid))
        if cid != self.cid:
            if other is not None and other is not self:
                other.close()
            with t.lock:
                if self.session.conns.get(cid) is other:
                    self.session.conns.pop(cid, None)
            return False
        with t.lock:
            if self.session.conns.get(self.cid) is self:
                self.session.conns.pop(self.cid, None)
        return True

    def text(self, pdu):
        t = self.t
        keys = dict(k for k in pdu.keys if k[1] is not None)
        if pdu.ttt != RSVD and getattr(self, "text_rest", None) is not None:
            rest, self.text_rest = self.text_rest, None
            b = self.header(OP_TEXT_RSP, 0x80, pdu.itt)
            struct.pack_into(">I", b, 20, RSVD)
            self.send_status(b, rest)
            return
        answer = []
        if keys.get("SendTargets") == "All" or "SendTargets" in keys:
            answer.append(("TargetName", t.iqn))
            answer.append(("TargetAddress", "127.0.0.1:%d,1" % t.port))
            answer.extend(t.sendtargets_extra)
        payload = text_bytes(answer)
        b = self.header(OP_TEXT_RSP, 0x80, pdu.itt)
        struct.pack_into(">I", b, 20, RSVD)
        if t.text_split and 0 < t.text_split < len(payload):
            self.text_rest = payload[t.text_split:]
            b[1] = 0x40            # C bit, F clear: more follows
            struct.pack_into(">I", b, 20, self.take_ttt())
            self.send_status(b, payload[:t.text_split])
            return
        self.send_status(b, payload)

    def snack(self, pdu):
        """SNACK Request (RFC 7143 11.16): resend what it names."""
        t = self.t
        t.snacks.append(pdu)
        self.say("SNACK type %d for task 0x%08x, BegRun %d, RunLength %d" %
                 (pdu.type, pdu.itt, pdu.beg_run, pdu.run_length))
        erl = int(self.session.params.get("ErrorRecoveryLevel", "0"))
        if erl < 1:
            self.send_reject(pdu, 0x04)
            return
        if pdu.type in (0, 3):     # Data/R2T SNACK, R-Data SNACK
            task = self.tasks.get(pdu.itt) or t.done_reads.get(pdu.itt)
            if task is None:
                self.send_reject(pdu, 0x03)
                return
            if task.write:
                for ttt, (off, length, r2t_sn) in list(task.r2ts.items()):
                    if r2t_sn >= pdu.beg_run and (pdu.run_length == 0 or
                                                  r2t_sn < pdu.beg_run + pdu.run_length):
                        b = self.header(OP_R2T, 0x80, task.itt, lun=task.cmd.lun, ttt=ttt,
                                        stat_sn=self.stat_sn)
                        struct.pack_into(">III", b, 36, r2t_sn, off, length)
                        self.send_raw(b)
                return
            first = 0 if pdu.type == 3 else pdu.beg_run
            end = len(task.datain) if pdu.type == 3 or pdu.run_length == 0 else \
                pdu.beg_run + pdu.run_length
            for bhs, piece in task.datain[first:end]:
                b = bytearray(bhs)
                with t.lock:
                    exp, mx = self.window()
                struct.pack_into(">II", b, 28, exp, mx)
                self.send_raw(b, piece)
        elif pdu.type == 1:        # Status SNACK
            sn = pdu.beg_run
            end = None if pdu.run_length == 0 else (sn + pdu.run_length) & 0xFFFFFFFF
            while sn in self.statuses and sn != end:
                bhs, data = self.statuses[sn]
                self.send_raw(bhs, data)
                sn = (sn + 1) & 0xFFFFFFFF
        elif pdu.type == 2:        # DataACK
            t.acks.append(pdu)
        else:
            self.send_reject(pdu, 0x04)

    def run(self):
        reason = "closed by the target"
        try:
            if self.login():
                self.serve()
                reason = "logged out"
        except Drop as e:
            reason = str(e)
        except Exception as e:   # a bug here must not look like a clean close
            reason = "scripted target error: %r" % e
            self.t.violation("scripted target error: %r" % e)
            import traceback
            traceback.print_exc()
        self.close()
        try:
            self.sock.close()
        except OSError:
            pass
        with self.t.lock:
            if self.session and self.session.conns.get(self.cid) is self:
                self.session.conns.pop(self.cid, None)
                # At ERL 2 the tasks of a failed connection wait for a Logout of its CID,
                # with reason 2 to be reassigned (RFC 7143 7.1.4, 7.2.2).
                erl = int(self.session.params.get("ErrorRecoveryLevel", "0"))
                if erl >= 2 and self.tasks and reason != "logged out":
                    self.session.lost_tasks[self.cid] = self.tasks
                    self.tasks = {}
        self.t.closed_conns.append(self.index)
        self.say("connection closed (%s)" % reason)


class LoginResponse:
    """What the target is about to send for one Login Request; a test's login_hook may change
    any field: keys, status (class, detail), transit/csg/nsg, version_max/version_active,
    tsih, stat_sn, max_cmd_sn, raw_text (bytes sent instead of keys), split (send the text
    in two PDUs, the first with the C bit, cut at this byte), cont (C bit)."""

    def __init__(self, csg, nsg, transit):
        self.csg, self.nsg, self.transit = csg, nsg, transit
        self.keys = []
        self.status = (0, 0)
        self.version_max = 0
        self.version_active = 0
        self.tsih = None
        self.stat_sn = None
        self.max_cmd_sn = None
        self.raw_text = None
        self.split = 0
        self.cont = False
        self.suppress = False   # send nothing (the hook sent something else instead)


def chap_hash(alg, ident, secret, challenge):
    name = {5: "md5", 6: "sha1", 7: "sha256", 8: "sha3_256"}[alg]
    return hashlib.new(name, bytes([ident & 0xFF]) + secret + challenge).digest()


def decode_chap_binary(v):
    import base64
    if v[:2] in ("0x", "0X"):
        return bytes.fromhex(v[2:])
    if v[:2] in ("0b", "0B"):
        return base64.b64decode(v[2:])
    return b""


class Target:
    """The scripted target. Subclass it and override the hooks to script a scenario:
      login_hook(conn, request, keys, response)   change a Login Response before it goes
      after_login(conn)                           a connection reached full feature phase
      on_pdu(conn, pdu) -> True when handled      any full-feature PDU from the initiator
      on_command(conn, pdu) -> True when handled  a SCSI Command (LUN known)
      on_write_data(conn, task) -> True when handled  all data of a write is in
      retry_allowed(pdu) -> bool                  a CmdSN used again is a legal retry
    """

    def __init__(self, iqn="iqn.2026-11.org.iscsifs.test:conformance", luns=(0,), size_mib=4,
                 answers=None, declare=None, prefs=None, digests=False, max_connections=1,
                 erl=0, chap=None, redirect=None, stat_sn=None, window=32, mrdsl=8192,
                 r2t_chunk=0, datain_chunk=0, status_in_datain=True, delay_transit=0,
                 log=None, ipv6=True):
        self.iqn = iqn
        self.disks = {n: initial_content(size_mib << 20, n) for n in luns}
        self.answers = dict(answers or {})
        self.declare = dict(declare or {})
        self.prefs = dict(prefs or {})
        self.digests = digests
        self.max_connections = max_connections
        self.erl = erl
        self.chap = chap
        self.redirect = redirect
        self.stat_sn = stat_sn
        self.window = window
        self.mrdsl = mrdsl
        self.r2t_chunk = r2t_chunk
        self.datain_chunk = datain_chunk
        self.status_in_datain = status_in_datain
        self.max_cmd_sn_fixed = None
        self.delay_transit = delay_transit
        self.datain_lun = False
        self.text_split = 0
        self.sendtargets_extra = []
        # error recovery knobs (see the module's docstring)
        self.datain_ack_every = 0
        self.drop_datain = set()
        self.corrupt_datain_hdr = set()
        self.corrupt_datain_data = set()
        self.statsn_gap = set()
        self.dataout_digest_error = set()
        self.done_reads = {}
        # what happened
        self.trace = []
        self.violations = []
        self.write_log = []
        self.snacks = []
        self.acks = []
        self.logouts = []
        self.ping_answers = []
        self.conns = []
        self.closed_conns = []
        self.sessions = {}
        self.next_tsih = 1
        self.reads = 0
        self.writes = 0
        self.statuses = 0
        self.lock = threading.RLock()
        self.log = log
        self.stopping = False
        self.listeners = []
        srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        srv.bind(("127.0.0.1", 0))
        srv.listen(16)
        self.port = srv.getsockname()[1]
        self.listeners.append(srv)
        if ipv6 and socket.has_ipv6:
            try:
                s6 = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
                s6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                s6.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s6.bind(("::1", self.port))
                s6.listen(16)
                self.listeners.append(s6)
            except OSError:
                pass
        for srv in self.listeners:
            srv.settimeout(0.2)
            threading.Thread(target=self._accept, args=(srv,), daemon=True).start()
        self.say("listening on 127.0.0.1:%d%s for %s" %
                 (self.port, " and [::1]" if len(self.listeners) > 1 else "", iqn))

    # --- hooks -----------------------------------------------------------------------
    def login_hook(self, conn, request, keys, response):
        pass

    def after_login(self, conn):
        pass

    def on_pdu(self, conn, pdu):
        return False

    def on_command(self, conn, pdu):
        return False

    def on_write_data(self, conn, task):
        return False

    def retry_allowed(self, pdu):
        return False

    # --- plumbing ----------------------------------------------------------------------
    def say(self, msg):
        line = "target %.3f: %s\n" % (time.monotonic(), msg)
        if self.log is not None:
            self.log.write(line)
            self.log.flush()

    def violation(self, msg):
        with self.lock:
            self.violations.append(msg)
        self.say("VIOLATION: " + msg)

    def record(self, pdu):
        with self.lock:
            self.trace.append(pdu)

    def first_stat_sn(self):
        return random.getrandbits(32) if self.stat_sn is None else self.stat_sn

    def count_status(self):
        with self.lock:
            self.statuses += 1
            return self.statuses

    def _accept(self, srv):
        while not self.stopping:
            try:
                sock, peer = srv.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            sock.settimeout(None)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self.lock:
                conn = Connection(self, sock, len(self.conns) + 1)
                self.conns.append(conn)
            conn.say("accepted from %s" % (peer[0],))
            threading.Thread(target=conn.run, daemon=True).start()

    def stop(self):
        self.stopping = True
        for srv in self.listeners:
            try:
                srv.close()
            except OSError:
                pass
        for c in list(self.conns):
            c.close()

    # --- what tests read ------------------------------------------------------------------
    def received(self, opcode=None, conn=None):
        """PDUs from the initiator, in arrival order, of that opcode (and connection)."""
        with self.lock:
            return [p for p in self.trace if not p.sent and (opcode is None or p.opcode == opcode)
                    and (conn is None or p.conn == conn)]

    def sent(self, opcode=None, conn=None):
        with self.lock:
            return [p for p in self.trace if p.sent and (opcode is None or p.opcode == opcode)
                    and (conn is None or p.conn == conn)]

    def commands(self, *ops):
        """SCSI Commands received whose CDB opcode is one of ops (all when none given)."""
        return [p for p in self.received(OP_SCSI_CMD) if not ops or p.cdb[0] in ops]

    def logins(self):
        return self.received(OP_LOGIN_REQ)

    def conn_of(self, index):
        return self.conns[index - 1]

    def wait_for(self, what, timeout=10.0):
        """Poll what() every 20 ms until true; its last value."""
        deadline = time.monotonic() + timeout
        while True:
            v = what()
            if v or time.monotonic() > deadline:
                return v
            time.sleep(0.02)

    def current(self):
        """The most recent connection in full feature phase that is still open."""
        with self.lock:
            for c in reversed(self.conns):
                if c.full_feature and not c.closed:
                    return c
        return None
