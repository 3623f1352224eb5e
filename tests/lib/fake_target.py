#!/usr/bin/env python3
"""A small scripted iSCSI target for the hostile-target tests (Python 3, stdlib only).

It listens on 127.0.0.1:PORT and serves one disk, LUN 0, from memory (512-byte
blocks, deterministic content, kept across connections). It behaves until the
first connection has served --after good READ commands, then misbehaves once,
as --case says, at the next READ (or WRITE for r2t-beyond-write). Later
connections behave, so an initiator that reconnects recovers. Each action is
logged to stderr in one line.

  fake_target.py --port PORT --iqn IQN [--case NAME] [--after K] [--digests]
  fake_target.py --expect OFFSET LENGTH    print the LUN's initial bytes

Cases, and what the misbehaving PDU is:
  unknown-itt           a Data-In for a task tag the initiator never used
  data-beyond-buffer    a Data-In whose offset + length passes the READ's length
  oversize-segment      a Data-In longer than the initiator's MaxRecvDataSegmentLength
  statsn-out-of-window  the READ's SCSI Response with StatSN 2^30 ahead
  bad-header-digest     the first Data-In with a wrong header digest (needs --digests)
  bad-data-digest       the first Data-In with a wrong data digest (needs --digests)
  reject                a Reject (protocol error) carrying the READ's header
  r2t-beyond-write      an R2T for bytes past the end of the WRITE
  bad-opcode            a PDU with opcode 0x01 (SCSI Command), which only initiators send
  malformed-login-keys  a key without '=' in the operational-stage Login Response of
                        connection --login-conn (default 1); earlier connections are
                        closed by the target at the READ after --after good READs
  medium-error          not a broken PDU: the READ is answered with CHECK CONDITION,
                        sense MEDIUM ERROR 11/00 (unrecovered read error), and so is
                        every later READ that touches one of its blocks (a bad region
                        stays bad), on any connection
  no-sync-cache         not a broken PDU: SYNCHRONIZE CACHE is refused as an unknown
                        command (ILLEGAL REQUEST 20/00), as by a target without a cache
  sync-cache-error      not a broken PDU: SYNCHRONIZE CACHE fails with HARDWARE ERROR
                        44/00 (internal target failure), every time
  mcs-lose-conn         not a broken PDU: MaxConnections=2 is allowed, and once a second
                        connection has joined the session, the first connection is closed
                        with a READ unanswered; a Logout "close the connection" for its
                        CID on the other connection is answered and that one goes on
  mcs-drop-notice       the same, but the first connection is closed after an Async
                        Message saying so (AsyncEvent 2, Parameter1 its CID) with a
                        DefaultTime2Wait of 5 s; each login logs its time

  logout-request        not a broken PDU: after a READ, an Async Message asking for a
                        logout (AsyncEvent 1)
  renegotiate-request   not a broken PDU: after a READ, an Async Message asking for
                        parameter negotiation (AsyncEvent 4)
  write-error           not a broken PDU: every WRITE that touches blocks 2048-4095 (the
                        second MiB) is answered, once its data is in, with CHECK CONDITION,
                        MEDIUM ERROR 0c/00 (write error), and nothing of it is written
  no-report-luns        not a broken PDU: REPORT LUNS is refused as an unknown command
                        (ILLEGAL REQUEST 20/00), as by a target older than SPC-3
  reserved              not a broken PDU: every WRITE is answered at once, before any data
                        is asked for, with RESERVATION CONFLICT, as when another
                        initiator holds a Write Exclusive reservation; reads work
  drop-notice           not a broken PDU: after a READ, an Async Message saying the
                        connection is dropped (AsyncEvent 2) with a DefaultTime2Wait of 5 s,
                        then the connection is closed; each login logs its time

Byte layouts follow RFC 7143 section 11.
"""

import argparse
import random
import signal
import socket
import struct
import sys
import threading
import time

BHS_LEN = 48
RSVD = 0xFFFFFFFF
BLOCK = 512
SEED = 7143
OUR_MAX_RECV_DSL = 8192      # what we declare: the most the initiator may send us
OUR_MAX_BURST = 262144
OUR_FIRST_BURST = 65536
CMD_WINDOW = 32              # MaxCmdSN = ExpCmdSN + CMD_WINDOW - 1

# Opcodes (RFC 7143 11.1.1).
OP_NOP_OUT, OP_SCSI_CMD, OP_TMF_REQ, OP_LOGIN_REQ = 0x00, 0x01, 0x02, 0x03
OP_TEXT_REQ, OP_DATA_OUT, OP_LOGOUT_REQ = 0x04, 0x05, 0x06
OP_NOP_IN, OP_SCSI_RSP, OP_TMF_RSP, OP_LOGIN_RSP = 0x20, 0x21, 0x22, 0x23
OP_TEXT_RSP, OP_DATA_IN, OP_LOGOUT_RSP, OP_R2T, OP_REJECT = 0x24, 0x25, 0x26, 0x31, 0x3F
OP_ASYNC = 0x32

READ_CASES = ("unknown-itt", "data-beyond-buffer", "oversize-segment", "statsn-out-of-window",
              "bad-header-digest", "bad-data-digest", "reject", "bad-opcode")
WRITE_CASES = ("r2t-beyond-write",)
LOGIN_CASES = ("malformed-login-keys",)
MCS_CASES = ("mcs-lose-conn", "mcs-drop-notice")
# Commands the target loses: no answer, until the initiator aborts them.
LOSE_CASES = ("lose-read",)
# Asynchronous messages the target sends after serving a READ.
ASYNC_CASES = ("logout-request", "renegotiate-request", "drop-notice")
DROP_NOTICE_WAIT = 5         # drop-notice: the DefaultTime2Wait the Async Message asks for
# A READ answered with an error status: the logical unit failed, not the protocol.
SCSI_CASES = ("medium-error",)
# SYNCHRONIZE CACHE refused as unknown (ILLEGAL REQUEST 20/00), or failing.
SYNC_CASES = ("no-sync-cache", "sync-cache-error")
# WRITEs touching this region fail (write-error), as on a disk that cannot write there.
WRITE_ERROR_CASES = ("write-error",)
BAD_WRITE_LBA, BAD_WRITE_BLOCKS = 2048, 2048
# Another initiator holds a Write Exclusive reservation: WRITEs conflict.
RESERVED_CASES = ("reserved",)
# A target older than SPC-3: REPORT LUNS refused as an unknown command.
OLD_CASES = ("no-report-luns",)
CASES = ("none",) + READ_CASES + WRITE_CASES + LOGIN_CASES + MCS_CASES + LOSE_CASES + \
    ASYNC_CASES + SCSI_CASES + SYNC_CASES + OLD_CASES + WRITE_ERROR_CASES + RESERVED_CASES

GOOD, CHECK_CONDITION, RESERVATION_CONFLICT = 0x00, 0x02, 0x18
MEDIUM_ERROR, HARDWARE_ERROR, ILLEGAL_REQUEST = 0x03, 0x04, 0x05


class Drop(Exception):
    """The connection ends: the peer closed it, or it broke the protocol."""


def log(msg):
    print("fake_target[%d]: %s" % (ARGS.port if ARGS else 0, msg), file=sys.stderr, flush=True)


def initial_content(size):
    return bytearray(random.Random(SEED).randbytes(size))


# CRC32C (Castagnoli, reflected polynomial 0x82F63B78), the iSCSI digest.
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
    crc = 0xFFFFFFFF
    table = CRC_TABLE
    for b in data:
        crc = table[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def digest_bytes(data):
    return struct.pack("<I", crc32c(data))   # least significant byte first on the wire


def pad4(n):
    return (n + 3) & ~3


def be32(b, off):
    return struct.unpack_from(">I", b, off)[0]


class Pdu:
    """A received PDU: its header fields and data segment."""

    def __init__(self, bhs, data):
        self.bhs = bhs
        self.opcode = bhs[0] & 0x3F
        self.immediate = bool(bhs[0] & 0x40)
        self.flags = bhs[1]
        self.dsl = int.from_bytes(bhs[5:8], "big")
        self.lun = bhs[8:16]
        self.itt = be32(bhs, 16)
        self.w20 = be32(bhs, 20)      # TTT / EDTL / CID
        self.cmd_sn = be32(bhs, 24)
        self.exp_stat_sn = be32(bhs, 28)
        self.data = data


def sense_fixed(key, asc, ascq):
    s = bytearray(18)
    s[0] = 0x70
    s[2] = key
    s[7] = 10
    s[12] = asc
    s[13] = ascq
    return bytes(s)


class Session:
    """What outlives a connection: the command numbering of one session."""

    def __init__(self, tsih, isid, cmd_sn):
        self.tsih = tsih
        self.isid = isid
        self.exp_cmd_sn = cmd_sn


class Target:
    def __init__(self, args):
        self.args = args
        self.lock = threading.Lock()
        self.disk = initial_content(args.size_mib << 20)
        self.nblocks = len(self.disk) // BLOCK
        self.conn_count = 0
        self.joined = 0            # connections that joined an existing session
        self.misbehaved = False
        self.bad_region = None     # medium-error: (first LBA, blocks) that fail to read
        self.sessions = {}
        self.next_tsih = 1

    def claim_misbehaviour(self):
        with self.lock:
            if self.misbehaved:
                return False
            self.misbehaved = True
            return True


class WriteTask:
    def __init__(self, pdu, lba, nblocks):
        self.itt = pdu.itt
        self.lun = pdu.lun
        self.edtl = pdu.w20
        self.lba = lba
        self.nblocks = nblocks
        self.buf = bytearray(self.edtl)
        self.received = 0
        self.ttt = RSVD
        self.r2t_sn = 0
        self.burst_end = 0


class Connection:
    def __init__(self, target, sock, index):
        self.t = target
        self.args = target.args
        self.sock = sock
        self.index = index
        self.stat_sn = random.getrandbits(32)
        self.session = None
        self.cid = None
        self.hdr_digest = False
        self.data_digest = False
        self.max_xmit_dsl = 8192      # what the initiator declared (RFC default until then)
        self.max_burst = OUR_MAX_BURST
        self.first_burst = OUR_FIRST_BURST
        self.immediate_data = True
        self.initial_r2t = True
        self.good_reads = 0
        self.writes = {}
        self.next_ttt = 1
        self.issued_itts = set()
        self.warned_exp_stat_sn = False
        self.misbehave_at_login = (self.args.case in LOGIN_CASES and
                                   index == self.args.login_conn)

    def say(self, msg):
        log("conn %d: %s" % (self.index, msg))

    # --- wire ---------------------------------------------------------------
    def recv_exact(self, n):
        out = bytearray()
        while len(out) < n:
            try:
                chunk = self.sock.recv(n - len(out))
            except OSError as e:
                raise Drop("receive failed: %s" % e)
            if not chunk:
                raise Drop("closed by the initiator")
            out += chunk
        return bytes(out)

    def recv_pdu(self, digests=True):
        bhs = self.recv_exact(BHS_LEN)
        ahs = self.recv_exact(bhs[4] * 4)
        if digests and self.hdr_digest:
            got = self.recv_exact(4)
            if got != digest_bytes(bhs + ahs):
                raise Drop("header digest error from the initiator")
        dsl = int.from_bytes(bhs[5:8], "big")
        if dsl > OUR_MAX_RECV_DSL:
            raise Drop("initiator sent a %d-byte data segment, more than our "
                       "MaxRecvDataSegmentLength %d" % (dsl, OUR_MAX_RECV_DSL))
        data = b""
        if dsl:
            padded = self.recv_exact(pad4(dsl))
            if digests and self.data_digest:
                got = self.recv_exact(4)
                if got != digest_bytes(padded):
                    raise Drop("data digest error from the initiator")
            data = padded[:dsl]
        return Pdu(bhs, data)

    def send_pdu(self, bhs, data=b"", bad_hdr_digest=False, bad_data_digest=False,
                 digests=True):
        bhs = bytearray(bhs)
        bhs[5:8] = len(data).to_bytes(3, "big")
        out = bytearray(bhs)
        if digests and self.hdr_digest:
            d = bytearray(digest_bytes(bytes(bhs)))
            if bad_hdr_digest:
                d[0] ^= 0xFF
            out += d
        if data:
            padded = bytes(data) + bytes(pad4(len(data)) - len(data))
            out += padded
            if digests and self.data_digest:
                d = bytearray(digest_bytes(padded))
                if bad_data_digest:
                    d[0] ^= 0xFF
                out += d
        try:
            self.sock.sendall(out)
        except OSError as e:
            raise Drop("send failed: %s" % e)

    # --- sequence numbers ---------------------------------------------------
    def take_stat_sn(self):
        sn = self.stat_sn
        self.stat_sn = (self.stat_sn + 1) & 0xFFFFFFFF
        return sn

    def window(self):
        exp = self.session.exp_cmd_sn if self.session else 0
        return exp, (exp + CMD_WINDOW - 1) & 0xFFFFFFFF

    def header(self, opcode, flags, itt, lun=bytes(8), ttt=RSVD, stat_sn=0):
        b = bytearray(BHS_LEN)
        b[0] = opcode
        b[1] = flags
        b[8:16] = lun
        exp, mx = self.window()
        struct.pack_into(">IIIII", b, 16, itt, ttt, stat_sn, exp, mx)
        return b

    def note_command(self, pdu):
        """CmdSN bookkeeping for a PDU from the initiator (RFC 7143 4.2.2.1)."""
        s = self.session
        exp, mx = self.window()
        if not pdu.immediate:
            if pdu.cmd_sn != s.exp_cmd_sn:
                self.say("CmdSN 0x%08x where 0x%08x was expected" % (pdu.cmd_sn, s.exp_cmd_sn))
            if ((pdu.cmd_sn - exp) & 0xFFFFFFFF) >= CMD_WINDOW:
                self.say("CmdSN 0x%08x is outside the window 0x%08x..0x%08x" %
                         (pdu.cmd_sn, exp, mx))
            s.exp_cmd_sn = (pdu.cmd_sn + 1) & 0xFFFFFFFF
        ahead = (pdu.exp_stat_sn - self.stat_sn) & 0xFFFFFFFF
        if 0 < ahead < 0x80000000 and not self.warned_exp_stat_sn:
            self.warned_exp_stat_sn = True
            self.say("the initiator acknowledges StatSN up to 0x%08x, but the next StatSN "
                     "is 0x%08x" % ((pdu.exp_stat_sn - 1) & 0xFFFFFFFF, self.stat_sn))

    # --- login --------------------------------------------------------------
    def login(self):
        """The login phase; True when it reached full feature phase."""
        keys_in = {}
        text = b""
        sent_tpgt = False
        for _ in range(32):
            pdu = self.recv_pdu(digests=False)
            if pdu.opcode != OP_LOGIN_REQ:
                raise Drop("expected a Login Request, got opcode 0x%02x" % pdu.opcode)
            transit = bool(pdu.flags & 0x80)
            cont = bool(pdu.flags & 0x40)
            csg = (pdu.flags >> 2) & 3
            nsg = pdu.flags & 3
            isid = pdu.bhs[8:14]
            tsih = struct.unpack_from(">H", pdu.bhs, 14)[0]
            self.cid = struct.unpack_from(">H", pdu.bhs, 20)[0]
            text += pdu.data
            if self.session is None:
                self.session = Session(tsih, isid, pdu.cmd_sn)
            if cont:
                # A partial request is acknowledged with an empty response (RFC 7143 6.2).
                self.send_login_rsp(pdu, csg, csg, False, b"")
                continue
            pairs, malformed = parse_text(text)
            text = b""
            if malformed:
                self.say("malformed login text from the initiator: %r" % malformed)
                self.send_login_rsp(pdu, csg, csg, False, b"", status=(0x02, 0x00))
                return False
            keys_in.update(pairs)
            if self.args.redirect:
                # RFC 7143 11.13.5: "moved temporarily", with where to go instead.
                self.say("redirecting the login to %s" % self.args.redirect)
                self.send_login_rsp(pdu, csg, csg, False,
                                    ("TargetAddress=%s,1" % self.args.redirect).encode() + b"\0",
                                    status=(0x01, 0x01))
                return False
            answers = []
            status = self.check_login_keys(csg, keys_in, tsih)
            if status:
                self.send_login_rsp(pdu, csg, csg, False, b"", status=status)
                return False
            if csg == 0:
                answers += self.security_answers(pairs)
                if not sent_tpgt:
                    answers.append(("TargetPortalGroupTag", "1"))
                    sent_tpgt = True
            elif csg == 1:
                answers += self.operational_answers(pairs)
            else:
                raise Drop("Login Request for stage %d" % csg)
            declared = any(k == "MaxRecvDataSegmentLength" for k, _ in answers)
            if transit and nsg == 3 and csg == 1 and not declared:
                answers.append(("MaxRecvDataSegmentLength", str(OUR_MAX_RECV_DSL)))
            payload = b"".join(("%s=%s" % kv).encode() + b"\0" for kv in answers)
            if csg == 1 and self.misbehave_at_login and self.t.claim_misbehaviour():
                self.say("misbehaving (malformed-login-keys): a key without '=' in the "
                         "operational-stage Login Response")
                payload += b"ThisKeyHasNoValue\0"
            if transit and nsg == 3:
                self.finish_login(tsih)
            self.send_login_rsp(pdu, csg, nsg if transit else csg, transit, payload)
            if transit and nsg == 3:
                self.say("logged in: TSIH %d, HeaderDigest %s, DataDigest %s, initiator's "
                         "MaxRecvDataSegmentLength %d, MaxBurstLength %d, FirstBurstLength %d, "
                         "ImmediateData %s, InitialR2T %s" %
                         (self.session.tsih, "CRC32C" if self.hdr_digest else "None",
                          "CRC32C" if self.data_digest else "None", self.max_xmit_dsl,
                          self.max_burst, self.first_burst, yn(self.immediate_data),
                          yn(self.initial_r2t)))
                if self.args.case in ("drop-notice", "mcs-drop-notice"):
                    self.say("login at %.3f" % time.time())
                return True
        raise Drop("login did not finish within 32 exchanges")

    def check_login_keys(self, csg, keys, tsih):
        if csg != 0:
            return None
        if keys.get("SessionType", "Normal") != "Normal":
            self.say("refusing a %s session" % keys.get("SessionType"))
            return (0x02, 0x09)
        if keys.get("TargetName") != self.args.iqn:
            self.say("refusing a login to %r" % keys.get("TargetName"))
            return (0x02, 0x03)
        if "InitiatorName" not in keys:
            return (0x02, 0x07)
        if tsih and tsih not in self.t.sessions:
            self.say("refusing a login to unknown TSIH %d" % tsih)
            return (0x02, 0x0A)
        return None

    def security_answers(self, pairs):
        out = []
        for k, v in pairs:
            if k == "AuthMethod":
                if "None" not in v.split(","):
                    raise Drop("the initiator insists on AuthMethod=%s" % v)
                out.append((k, "None"))
            elif k in ("InitiatorName", "InitiatorAlias", "TargetName", "SessionType"):
                continue
            else:
                out.extend(self.operational_answers([(k, v)]))
        return out

    def operational_answers(self, pairs):
        out = []
        for k, v in pairs:
            if v in ("NotUnderstood", "Irrelevant", "Reject"):
                continue
            if k in ("HeaderDigest", "DataDigest"):
                ours = ["CRC32C", "None"] if self.args.digests else ["None"]
                pick = next((x for x in v.split(",") if x in ours), "Reject")
                if k == "HeaderDigest":
                    self.hdr_digest = pick == "CRC32C"
                else:
                    self.data_digest = pick == "CRC32C"
                out.append((k, pick))
            elif k == "MaxRecvDataSegmentLength":
                self.max_xmit_dsl = int(v, 0)
                out.append((k, str(OUR_MAX_RECV_DSL)))   # declarative: ours in return
            elif k == "MaxConnections":
                most = 2 if self.args.case in MCS_CASES else 1
                out.append((k, str(min(int(v, 0), most))))
            elif k == "InitialR2T":                      # OR: our Yes wins
                self.initial_r2t = True
                out.append((k, "Yes"))
            elif k == "ImmediateData":                   # AND with our Yes
                self.immediate_data = v == "Yes"
                out.append((k, v))
            elif k == "MaxBurstLength":
                self.max_burst = min(int(v, 0), OUR_MAX_BURST)
                out.append((k, str(self.max_burst)))
            elif k == "FirstBurstLength":
                self.first_burst = min(int(v, 0), OUR_FIRST_BURST)
                out.append((k, str(self.first_burst)))
            elif k == "DefaultTime2Wait":
                out.append((k, str(max(int(v, 0), 2))))
            elif k == "DefaultTime2Retain":
                out.append((k, str(min(int(v, 0), 20))))
            elif k == "MaxOutstandingR2T":
                out.append((k, "1"))
            elif k in ("DataPDUInOrder", "DataSequenceInOrder"):
                out.append((k, "Yes"))                   # OR: our Yes wins
            elif k == "ErrorRecoveryLevel":
                out.append((k, "0"))
            elif k in ("InitiatorName", "InitiatorAlias", "TargetName", "SessionType"):
                continue
            else:
                out.append((k, "NotUnderstood"))
        return out

    def finish_login(self, tsih):
        with self.t.lock:
            if tsih:
                old = self.t.sessions[tsih]
                if self.args.case not in MCS_CASES:
                    old.exp_cmd_sn = self.session.exp_cmd_sn
                self.session = old
                self.t.joined += 1
            else:
                self.session.tsih = self.t.next_tsih
                self.t.next_tsih += 1
                self.t.sessions[self.session.tsih] = self.session

    def send_login_rsp(self, req, csg, nsg, transit, payload, status=(0, 0)):
        b = bytearray(BHS_LEN)
        b[0] = OP_LOGIN_RSP
        b[1] = (0x80 if transit else 0) | (csg & 3) << 2 | (nsg & 3 if transit else 0)
        b[2] = 0    # Version-max
        b[3] = 0    # Version-active
        b[8:14] = req.bhs[8:14]
        tsih = self.session.tsih if transit and nsg == 3 else struct.unpack_from(">H", req.bhs, 14)[0]
        struct.pack_into(">H", b, 14, tsih)
        exp = req.cmd_sn
        struct.pack_into(">IIIII", b, 16, req.itt, 0, self.take_stat_sn(), exp,
                         (exp + CMD_WINDOW - 1) & 0xFFFFFFFF)
        b[36], b[37] = status
        if status != (0, 0):
            self.say("login refused with status 0x%02x%02x" % status)
        self.send_pdu(b, payload, digests=False)

    # --- full feature phase -------------------------------------------------
    def serve(self):
        while True:
            pdu = self.recv_pdu()
            op = pdu.opcode
            if op == OP_SCSI_CMD:
                self.note_command(pdu)
                self.issued_itts.add(pdu.itt)
                self.scsi_command(pdu)
            elif op == OP_DATA_OUT:
                self.data_out(pdu)
            elif op == OP_NOP_OUT:
                self.note_command(pdu)
                if pdu.itt != RSVD:
                    self.send_pdu(self.header(OP_NOP_IN, 0x80, pdu.itt, lun=pdu.lun,
                                              stat_sn=self.take_stat_sn()), pdu.data)
            elif op == OP_TMF_REQ:
                self.note_command(pdu)
                self.tmf(pdu)
            elif op == OP_LOGOUT_REQ:
                self.note_command(pdu)
                reason = pdu.flags & 0x7F
                cid = struct.unpack_from(">H", pdu.bhs, 20)[0]
                b = self.header(OP_LOGOUT_RSP, 0x80, pdu.itt, stat_sn=self.take_stat_sn())
                struct.pack_into(">I", b, 20, 0)
                self.send_pdu(b)
                if reason == 1 and cid != self.cid:
                    # Another connection closed (RFC 7143 11.14): this one goes on.
                    self.say("logout of connection %d (reason 1) answered; going on" % cid)
                    continue
                self.say("logout (reason %d) answered" % reason)
                return
            elif op == OP_TEXT_REQ:
                self.note_command(pdu)
                b = self.header(OP_TEXT_RSP, 0x80, pdu.itt, stat_sn=self.take_stat_sn())
                self.send_pdu(b)
            else:
                raise Drop("the initiator sent opcode 0x%02x" % op)

    def tmf(self, pdu):
        function = pdu.flags & 0x7F
        response = 0
        if function == 1:            # ABORT TASK
            ref = pdu.w20
            if ref in self.writes:
                del self.writes[ref]
            self.say("ABORT TASK for 0x%08x" % ref)
        elif function == 5:          # LOGICAL UNIT RESET
            self.writes.clear()
            self.say("LOGICAL UNIT RESET")
        else:
            response = 5             # function not supported
        b = self.header(OP_TMF_RSP, 0x80, pdu.itt, stat_sn=self.take_stat_sn())
        b[2] = response
        b[8:16] = bytes(8)
        struct.pack_into(">I", b, 20, 0)
        self.send_pdu(b)

    def respond(self, pdu, status, sense=None, residual=None):
        b = self.header(OP_SCSI_RSP, 0x80, pdu.itt, stat_sn=self.take_stat_sn())
        b[8:16] = bytes(8)
        struct.pack_into(">I", b, 20, 0)
        b[3] = status
        if residual:
            flag, count = residual
            b[1] |= flag
            struct.pack_into(">I", b, 44, count)
        data = b""
        if sense:
            data = struct.pack(">H", len(sense)) + sense
        self.send_pdu(b, data)

    def check(self, pdu, asc, what, ascq=0):
        self.say("%s: CHECK CONDITION, ILLEGAL REQUEST asc 0x%02x" % (what, asc))
        self.respond(pdu, CHECK_CONDITION, sense_fixed(ILLEGAL_REQUEST, asc, ascq))

    def send_data_in(self, pdu, data, corrupt=None):
        """Data-In PDUs split at the initiator's MaxRecvDataSegmentLength, F at each burst's
        end, status collapsed into the last one (S bit) with any residual."""
        edtl = pdu.w20
        residual = None
        if len(data) > edtl:
            residual = (0x04, len(data) - edtl)
            data = data[:edtl]
        elif len(data) < edtl:
            residual = (0x02, edtl - len(data))
        if not data:
            self.respond(pdu, GOOD, residual=residual)
            return
        off, data_sn = 0, 0
        while off < len(data):
            burst_left = self.max_burst - off % self.max_burst
            n = min(len(data) - off, self.max_xmit_dsl, burst_left)
            last = off + n == len(data)
            flags = 0x80 if last or n == burst_left else 0
            stat_sn = 0
            if last:
                flags |= 0x01
                stat_sn = self.take_stat_sn()
                if residual:
                    flags |= residual[0]
            b = self.header(OP_DATA_IN, flags, pdu.itt, stat_sn=stat_sn)
            b[3] = GOOD if last else 0
            b[8:16] = bytes(8)
            struct.pack_into(">III", b, 36, data_sn,
                             off, residual[1] if last and residual else 0)
            self.send_pdu(b, data[off:off + n],
                          bad_hdr_digest=corrupt == "header" and data_sn == 0,
                          bad_data_digest=corrupt == "data" and data_sn == 0)
            off += n
            data_sn += 1

    def scsi_command(self, pdu):
        cdb = pdu.bhs[32:48]
        op = cdb[0]
        if pdu.lun != bytes(8):
            if op == 0x12:   # INQUIRY to a LUN that is not there: qualifier 3, type 0x1f
                self.send_data_in(pdu, (bytes([0x7F]) + bytes(35))[:alloc16(cdb, 3)])
            elif op == 0xA0:
                self.report_luns(pdu, cdb)
            else:
                self.check(pdu, 0x25, "command 0x%02x to a LUN that does not exist" % op)
            return
        if op in (0x28, 0x88):
            self.read(pdu, cdb)
        elif op in (0x2A, 0x8A):
            self.write(pdu, cdb)
        elif op == 0x00:
            self.respond(pdu, GOOD)
        elif op == 0x12:
            self.inquiry(pdu, cdb)
        elif op == 0xA0:
            self.report_luns(pdu, cdb)
        elif op == 0x25:
            self.say("READ CAPACITY(10)")
            self.send_data_in(pdu, struct.pack(">II", min(self.t.nblocks - 1, RSVD), BLOCK))
        elif op == 0x9E and cdb[1] & 0x1F == 0x10:
            self.say("READ CAPACITY(16)")
            d = struct.pack(">QI", self.t.nblocks - 1, BLOCK) + bytes(20)
            self.send_data_in(pdu, d[:be32(cdb, 10)])
        elif op == 0x1A:
            self.mode_sense6(pdu, cdb)
        elif op in (0x35, 0x91) and self.args.case == "no-sync-cache":
            self.check(pdu, 0x20, "SYNCHRONIZE CACHE (not supported here)")
        elif op in (0x35, 0x91) and self.args.case == "sync-cache-error":
            self.say("SYNCHRONIZE CACHE: CHECK CONDITION, HARDWARE ERROR 44/00")
            self.respond(pdu, CHECK_CONDITION, sense_fixed(HARDWARE_ERROR, 0x44, 0))
        elif op in (0x35, 0x91):
            self.say("SYNCHRONIZE CACHE")
            self.respond(pdu, GOOD)
        else:
            # Any immediate data of a refused write is dropped with it; no R2T follows.
            self.check(pdu, 0x20, "unsupported command 0x%02x" % op)

    def inquiry(self, pdu, cdb):
        alloc = alloc16(cdb, 3)
        if cdb[1] & 1:
            page = cdb[2]
            if page == 0x00:
                body = bytes([0x00, 0x80, 0x83])
            elif page == 0x80:
                body = b"FAKE%08d" % self.args.port
            elif page == 0x83:
                ident = b"iscsifs-fake-target-lun0"
                body = bytes([0x02, 0x01, 0x00, len(ident)]) + ident   # T10 vendor ID, ASCII
            else:
                self.check(pdu, 0x24, "INQUIRY VPD page 0x%02x" % page)
                return
            d = bytes([0x00, page]) + struct.pack(">H", len(body)) + body
            self.say("INQUIRY VPD page 0x%02x" % page)
        else:
            d = bytearray(36)
            d[0] = 0x00          # connected, direct-access block device
            d[2] = 0x05          # SPC-3
            d[3] = 0x02          # response data format 2
            d[4] = len(d) - 5
            d[7] = 0x02          # CmdQue
            d[8:16] = b"ISCSIFS "
            d[16:32] = b"FAKE TARGET     "
            d[32:36] = b"0001"
            d = bytes(d)
            self.say("INQUIRY")
        self.send_data_in(pdu, d[:alloc])

    def report_luns(self, pdu, cdb):
        if self.args.case == "no-report-luns":
            self.check(pdu, 0x20, "REPORT LUNS (not supported here)")
            return
        self.say("REPORT LUNS")
        d = struct.pack(">II", 8, 0) + bytes(8)
        self.send_data_in(pdu, d[:be32(cdb, 6)])

    def mode_sense6(self, pdu, cdb):
        page = cdb[2] & 0x3F
        caching = bytes([0x08, 0x12, 0x04]) + bytes(17)      # WCE set
        control = bytes([0x0A, 0x0A, 0x02]) + bytes(9)
        pages = {0x08: caching, 0x0A: control, 0x3F: caching + control}
        if page not in pages:
            self.check(pdu, 0x24, "MODE SENSE(6) page 0x%02x" % page)
            return
        body = pages[page]
        d = bytes([len(body) + 3, 0x00, 0x00, 0x00]) + body  # no block descriptors, not WP
        self.say("MODE SENSE(6) page 0x%02x" % page)
        self.send_data_in(pdu, d[:cdb[4]])

    def lba_range(self, pdu, cdb, what):
        if cdb[0] in (0x28, 0x2A):
            lba, n = be32(cdb, 2), struct.unpack_from(">H", cdb, 7)[0]
        else:
            lba, n = struct.unpack_from(">Q", cdb, 2)[0], be32(cdb, 10)
        if lba + n > self.t.nblocks:
            self.check(pdu, 0x21, "%s beyond the end (lba %d, %d blocks)" % (what, lba, n))
            return None
        return lba, n

    def should_misbehave(self, cases):
        return (self.args.case in cases and self.index == 1 and
                self.good_reads >= self.args.after and self.t.claim_misbehaviour())

    def read(self, pdu, cdb):
        rng = self.lba_range(pdu, cdb, "READ")
        if rng is None:
            return
        lba, n = rng
        with self.t.lock:
            data = bytes(self.t.disk[lba * BLOCK:(lba + n) * BLOCK])
        if self.args.case in LOGIN_CASES and self.index < self.args.login_conn and \
                self.good_reads >= self.args.after:
            self.say("dropping the connection at READ 0x%08x so that the initiator logs in "
                     "again" % pdu.itt)
            raise Drop("closed by the target")
        if self.should_misbehave(READ_CASES):
            self.misbehave_read(pdu, data)
            return
        if self.should_misbehave(SCSI_CASES):
            with self.t.lock:
                self.t.bad_region = (lba, n)
        bad = self.t.bad_region
        if bad and lba < bad[0] + bad[1] and bad[0] < lba + n:
            self.say("answering READ lba %d, %d blocks (task 0x%08x) with CHECK CONDITION, "
                     "MEDIUM ERROR 11/00" % (lba, n, pdu.itt))
            self.respond(pdu, CHECK_CONDITION, sense_fixed(MEDIUM_ERROR, 0x11, 0))
            return
        if self.should_misbehave(LOSE_CASES):
            self.say("losing READ 0x%08x: no answer" % pdu.itt)
            return
        if (self.args.case in MCS_CASES and self.index == 1 and self.t.joined and
                self.good_reads >= self.args.after and self.t.claim_misbehaviour()):
            if self.args.case == "mcs-drop-notice":
                self.drop_notice()
            raise Drop("closed by the target with READ 0x%08x unanswered" % pdu.itt)
        self.good_reads += 1
        self.say("READ lba %d, %d blocks (task 0x%08x, good read %d)" %
                 (lba, n, pdu.itt, self.good_reads))
        self.send_data_in(pdu, data)
        if self.should_misbehave(ASYNC_CASES):
            if self.args.case == "drop-notice":
                self.drop_notice()
            self.request_logout(4 if self.args.case == "renegotiate-request" else 1)

    def drop_notice(self):
        """AsyncEvent 2: this connection (Parameter1, its CID) is dropped, and the initiator
        is to wait Parameter2 s (DefaultTime2Wait) before logging in again."""
        b = self.header(OP_ASYNC, 0x80, RSVD, stat_sn=self.take_stat_sn())
        b[36] = 2
        struct.pack_into(">HHH", b, 38, self.cid or 0, DROP_NOTICE_WAIT, 0)
        self.say("AsyncEvent 2: dropping the connection, Time2Wait %d s, at %.3f" %
                 (DROP_NOTICE_WAIT, time.time()))
        self.send_pdu(b)
        raise Drop("closed by the target after AsyncEvent 2")

    def request_logout(self, event):
        """AsyncEvent 1 (RFC 7143 11.9.1): log this connection out within Parameter3 s.
        AsyncEvent 4: negotiate parameters (a Text Request, or a Logout)."""
        b = self.header(OP_ASYNC, 0x80, RSVD, stat_sn=self.take_stat_sn())
        b[36] = event
        if event == 1:
            struct.pack_into(">HHH", b, 38, 0, 0, 10)
            self.say("asking the initiator to log out (AsyncEvent 1)")
        else:
            self.say("asking the initiator to negotiate parameters (AsyncEvent 4)")
        self.send_pdu(b)

    def misbehave_read(self, pdu, data):
        case = self.args.case
        edtl = pdu.w20
        exp, mx = self.window()
        if case == "unknown-itt":
            itt = 0x7FFFFFF0
            while itt in self.issued_itts:
                itt -= 1
            self.say("misbehaving (unknown-itt): Data-In for task tag 0x%08x, never issued "
                     "(the READ is 0x%08x)" % (itt, pdu.itt))
            b = self.header(OP_DATA_IN, 0x80, itt)
            struct.pack_into(">III", b, 36, 0, 0, 0)
            self.send_pdu(b, data[:min(len(data), self.max_xmit_dsl)])
        elif case == "data-beyond-buffer":
            # Past the end by one block, within the initiator's MaxRecvDataSegmentLength.
            n = min(2 * BLOCK, self.max_xmit_dsl)
            off = edtl + BLOCK - n
            self.say("misbehaving (data-beyond-buffer): Data-In at offset %d of %d bytes for "
                     "a %d-byte READ (task 0x%08x)" % (off, n, edtl, pdu.itt))
            b = self.header(OP_DATA_IN, 0x80, pdu.itt)
            struct.pack_into(">III", b, 36, 0, off, 0)
            self.send_pdu(b, (data + bytes(BLOCK))[off:off + n])
        elif case == "oversize-segment":
            n = self.max_xmit_dsl + BLOCK
            self.say("misbehaving (oversize-segment): Data-In with a %d-byte data segment, "
                     "the initiator declared MaxRecvDataSegmentLength %d (task 0x%08x)" %
                     (n, self.max_xmit_dsl, pdu.itt))
            b = self.header(OP_DATA_IN, 0x80, pdu.itt)
            struct.pack_into(">III", b, 36, 0, 0, 0)
            self.send_pdu(b, (data + bytes(n))[:n])
        elif case == "statsn-out-of-window":
            jump = 1 << 30
            self.say("misbehaving (statsn-out-of-window): data, then a SCSI Response with "
                     "StatSN 0x%08x where 0x%08x is due (task 0x%08x)" %
                     ((self.stat_sn + jump) & 0xFFFFFFFF, self.stat_sn, pdu.itt))
            off, data_sn = 0, 0
            while off < len(data):
                n = min(len(data) - off, self.max_xmit_dsl)
                b = self.header(OP_DATA_IN, 0x80 if off + n == len(data) else 0, pdu.itt)
                struct.pack_into(">III", b, 36, data_sn, off, 0)
                self.send_pdu(b, data[off:off + n])
                off += n
                data_sn += 1
            self.stat_sn = (self.stat_sn + jump) & 0xFFFFFFFF
            self.respond(pdu, GOOD)
            self.stat_sn = (self.stat_sn - jump) & 0xFFFFFFFF
        elif case in ("bad-header-digest", "bad-data-digest"):
            which = "header" if case == "bad-header-digest" else "data"
            if not (self.hdr_digest if which == "header" else self.data_digest):
                self.say("cannot misbehave (%s): %s digests were not negotiated; serving the "
                         "READ" % (case, which))
                self.send_data_in(pdu, data)
                return
            self.say("misbehaving (%s): the first Data-In for task 0x%08x has a wrong %s "
                     "digest" % (case, pdu.itt, which))
            self.send_data_in(pdu, data, corrupt=which)
        elif case == "reject":
            self.say("misbehaving (reject): Reject, reason 0x04 (protocol error), for the READ "
                     "0x%08x" % pdu.itt)
            b = self.header(OP_REJECT, 0x80, RSVD, stat_sn=self.take_stat_sn())
            b[2] = 0x04
            struct.pack_into(">I", b, 20, 0)
            self.send_pdu(b, pdu.bhs)
        elif case == "bad-opcode":
            self.say("misbehaving (bad-opcode): a PDU with opcode 0x%02x (SCSI Command), which "
                     "only initiators send (task 0x%08x)" % (OP_SCSI_CMD, pdu.itt))
            b = bytearray(BHS_LEN)
            b[0] = OP_SCSI_CMD
            b[1] = 0x80
            struct.pack_into(">IIIII", b, 16, pdu.itt, 0, self.stat_sn, exp, mx)
            self.send_pdu(b)

    def write(self, pdu, cdb):
        rng = self.lba_range(pdu, cdb, "WRITE")
        if rng is None:
            return
        lba, n = rng
        if pdu.w20 != n * BLOCK:
            self.check(pdu, 0x24, "WRITE of %d blocks with expected length %d" % (n, pdu.w20))
            return
        if self.args.case == "reserved":
            self.say("answering WRITE lba %d, %d blocks (task 0x%08x) with RESERVATION CONFLICT"
                     % (lba, n, pdu.itt))
            self.respond(pdu, RESERVATION_CONFLICT)
            return
        task = WriteTask(pdu, lba, n)
        imm = len(pdu.data)
        if imm > min(task.edtl, self.first_burst):
            raise Drop("%d bytes of immediate data, more than allowed" % imm)
        task.buf[0:imm] = pdu.data
        task.received = imm
        self.writes[pdu.itt] = task
        if self.should_misbehave(WRITE_CASES):
            off = task.received
            want = task.edtl - off + 8 * BLOCK
            task.ttt = self.take_ttt()
            self.say("misbehaving (r2t-beyond-write): R2T for %d bytes at offset %d of a "
                     "%d-byte WRITE (task 0x%08x)" % (want, off, task.edtl, pdu.itt))
            self.send_r2t(task, off, want)
            return
        self.say("WRITE lba %d, %d blocks (task 0x%08x, %d bytes immediate)" %
                 (lba, n, pdu.itt, imm))
        self.continue_write(task)

    def take_ttt(self):
        ttt = self.next_ttt
        self.next_ttt = (self.next_ttt + 1) & 0x7FFFFFFF or 1
        return ttt

    def send_r2t(self, task, off, want):
        b = self.header(OP_R2T, 0x80, task.itt, lun=task.lun, ttt=task.ttt, stat_sn=self.stat_sn)
        struct.pack_into(">III", b, 36, task.r2t_sn, off, want)
        task.r2t_sn += 1
        task.burst_end = off + want
        self.send_pdu(b)

    def continue_write(self, task):
        """Ask for the next burst, or finish the command when all its data is in."""
        if task.received >= task.edtl and self.args.case == "write-error" and \
                task.lba < BAD_WRITE_LBA + BAD_WRITE_BLOCKS and BAD_WRITE_LBA < task.lba + task.nblocks:
            del self.writes[task.itt]
            self.say("answering WRITE lba %d, %d blocks (task 0x%08x) with CHECK CONDITION, "
                     "MEDIUM ERROR 0c/00; nothing written" % (task.lba, task.nblocks, task.itt))
            self.respond(task, CHECK_CONDITION, sense_fixed(MEDIUM_ERROR, 0x0c, 0))
            return
        if task.received >= task.edtl:
            with self.t.lock:
                self.t.disk[task.lba * BLOCK:(task.lba + task.nblocks) * BLOCK] = task.buf
            del self.writes[task.itt]
            self.respond_itt(task.itt, GOOD)
            return
        task.ttt = self.take_ttt()
        self.send_r2t(task, task.received, min(task.edtl - task.received, self.max_burst))

    def respond_itt(self, itt, status):
        b = self.header(OP_SCSI_RSP, 0x80, itt, stat_sn=self.take_stat_sn())
        b[3] = status
        struct.pack_into(">I", b, 20, 0)
        self.send_pdu(b)

    def data_out(self, pdu):
        task = self.writes.get(pdu.itt)
        if task is None:
            self.say("Data-Out for no write in progress (task 0x%08x); ignored" % pdu.itt)
            return
        off = be32(pdu.bhs, 40)
        if pdu.w20 != task.ttt or off != task.received or off + pdu.dsl > task.burst_end:
            raise Drop("Data-Out for task 0x%08x with TTT 0x%08x at offset %d of %d bytes does "
                       "not match the R2T (TTT 0x%08x, next offset %d, burst end %d)" %
                       (pdu.itt, pdu.w20, off, pdu.dsl, task.ttt, task.received,
                        task.burst_end))
        task.buf[off:off + pdu.dsl] = pdu.data
        task.received += pdu.dsl
        if pdu.flags & 0x80:
            if task.received != task.burst_end:
                raise Drop("Data-Out burst for task 0x%08x ended at %d, not %d" %
                           (pdu.itt, task.received, task.burst_end))
            self.continue_write(task)

    def run(self):
        try:
            if self.login():
                self.serve()
            reason = "closed by the target"
        except Drop as e:
            reason = str(e)
        except Exception as e:   # a bug here must not look like a clean close
            reason = "fake target error: %r" % e
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        self.say("connection closed (%s)" % reason)


def alloc16(cdb, off):
    return struct.unpack_from(">H", cdb, off)[0]


def yn(b):
    return "Yes" if b else "No"


def parse_text(text):
    """[(key, value)] from key=value\\0 pairs, and the first pair without '=' (or None)."""
    pairs = []
    for item in text.split(b"\0"):
        if not item:
            continue
        s = item.decode("utf-8", "replace")
        if "=" not in s or s.startswith("="):
            return pairs, s
        k, v = s.split("=", 1)
        pairs.append((k, v))
    return pairs, None


def main():
    global ARGS
    p = argparse.ArgumentParser(description="scripted iSCSI target for tests")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--iqn", default="iqn.2026-11.org.iscsifs.test:fake")
    p.add_argument("--case", choices=CASES, default="none")
    p.add_argument("--after", type=int, default=2,
                   help="good READs on the first connection before misbehaving")
    p.add_argument("--login-conn", type=int, default=1,
                   help="malformed-login-keys: the connection whose login misbehaves; "
                        "earlier ones are dropped after --after good READs")
    p.add_argument("--digests", action="store_true", help="accept CRC32C digests")
    p.add_argument("--redirect", metavar="ADDRESS:PORT",
                   help="answer every login with a redirection there")
    p.add_argument("--size-mib", type=int, default=4)
    p.add_argument("--lifetime", type=int, default=600, help="exit after this many seconds")
    p.add_argument("--expect", nargs=2, type=int, metavar=("OFFSET", "LENGTH"),
                   help="print the LUN's initial bytes and exit")
    ARGS = p.parse_args()
    if ARGS.expect:
        off, n = ARGS.expect
        sys.stdout.buffer.write(initial_content(ARGS.size_mib << 20)[off:off + n])
        return 0
    if not 0 < ARGS.port < 65536:
        p.error("--port is required")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    target = Target(ARGS)
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", ARGS.port))
    srv.listen(8)
    srv.settimeout(1.0)
    deadline = time.monotonic() + ARGS.lifetime
    log("listening on 127.0.0.1:%d for %s (case %s, after %d good READs%s)" %
        (ARGS.port, ARGS.iqn, ARGS.case, ARGS.after, ", digests" if ARGS.digests else ""))
    while time.monotonic() < deadline:
        try:
            sock, peer = srv.accept()
        except socket.timeout:
            continue
        sock.settimeout(None)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        target.conn_count += 1
        conn = Connection(target, sock, target.conn_count)
        conn.say("accepted from %s:%d" % peer)
        threading.Thread(target=conn.run, daemon=True).start()
    log("lifetime of %d s over; exiting" % ARGS.lifetime)
    return 0


ARGS = None

if __name__ == "__main__":
    sys.exit(main())
