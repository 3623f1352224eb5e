#!/usr/bin/env python3
"""RFC 7143 section 11 (iSCSI PDU Formats): the traffic of a representative set of the suite's
scenarios, captured on the loopback interface, decodes with tshark as iSCSI with no malformed
frame, and holds every kind of PDU the scenarios exchange: a discovery session with its Text
Request, a login answered in two PDUs (C bit) with an unknown key, writes with immediate,
unsolicited and solicited data, reads with the status in the last Data-In and in a SCSI
Response, pings both ways, asynchronous messages, BUSY, an aborted task, a Reject and the
reinstatement after it, and the logouts."""
import conformance as c

KEY = "X-org.iscsifs.test.Unknown"
OPCODES = {
    0x00: "NOP-Out", 0x01: "SCSI Command", 0x02: "Task Management Request",
    0x03: "Login Request", 0x04: "Text Request", 0x05: "SCSI Data-Out", 0x06: "Logout Request",
    0x20: "NOP-In", 0x21: "SCSI Response", 0x22: "Task Management Response",
    0x23: "Login Response", 0x24: "Text Response", 0x25: "SCSI Data-In",
    0x26: "Logout Response", 0x31: "R2T", 0x32: "Asynchronous Message", 0x3F: "Reject",
}


class Scripted(c.Target):
    action = None

    def login_hook(self, conn, req, keys, rsp):
        payload = c.text_bytes(rsp.keys)
        i = payload.find(b"MaxRecvDataSegmentLength")
        if req.csg == 1 and i >= 0 and rsp.transit:
            # At a pair's end: tshark parses each PDU's text on its own and calls a key cut
            # in two (which login-11.13-c-bit-response sends, as RFC 7143 allows) malformed.
            rsp.split = i

    def on_command(self, conn, pdu):
        if self.action is None or pdu.cdb[0] not in (0x28, 0x88):
            return False
        action, self.action = self.action, None
        if action == "busy":
            conn.respond(pdu, c.BUSY)
        elif action == "reject":
            conn.send_reject(pdu, 0x04)
        # "lose": no answer until the initiator aborts the task
        return True


def main(t):
    c.require_capture(t)
    tgt = t.target(Scripted, declare={1: [(KEY, "1")]}, datain_chunk=4096, r2t_chunk=16384,
                   prefs=dict(c.QUICK_PREFS, InitialR2T="No", FirstBurstLength="16384"))
    cap = t.capture(tgt.port)
    d = t.daemon(tgt, iqn=None, keys="AuthMethod=None" + c.QUICK,
                 attrs="nopout_timeout=1;nopout_response_timeout=5;login_timeout=5;"
                       "command_timeout=2")
    d.start()
    data = c.pattern(65536)
    d.write(0, data)
    d.check_read(0, 65536, data)
    tgt.status_in_datain = False
    d.check_read(65536, 16384, t.expect(65536, 16384))
    tgt.status_in_datain = True
    tgt.current().send_nop_in(ttt=0x55, data=b"ping")
    t.wait(lambda: tgt.ping_answers, 5, "the target's ping was not answered")
    t.wait(lambda: [p for p in tgt.received(c.OP_NOP_OUT) if p.itt != c.RSVD], 5,
           "the initiator sent no ping")
    tgt.current().send_async(255, data=b"\0\0vendor")   # SenseLength 0, then event data (11.9.4)
    tgt.action = "busy"
    d.check_read(4096, 4096, data[4096:8192])
    tgt.action = "lose"
    d.check_read(8192, 4096, data[8192:12288])
    tgt.action = "reject"
    d.check_read(12288, 4096, data[12288:16384])
    d.stop_checked()
    cap.stop()

    cap.check_decodes()
    seen = cap.fields("frame.number", "iscsi.opcode")
    opcodes = {int(v, 16) & 0x3F for v in seen["iscsi.opcode"]}
    missing = sorted(OPCODES[o] for o in OPCODES if o not in opcodes)
    t.check(not missing, "tshark decoded no %s" % ", ".join(missing))
    t.msg("%d frames, every kind of PDU decoded, none malformed" % len(seen["frame.number"]))


c.run(main)
