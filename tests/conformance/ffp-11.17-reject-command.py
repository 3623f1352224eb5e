#!/usr/bin/env python3
"""RFC 7143 11.17 (Reject) and 7.3 (Usage of Reject PDU in Recovery). A READ the target
rejects (reason 0x04, protocol error, the header of the READ in the data segment) gets no
status; at ErrorRecoveryLevel 0 the initiator recovers by connection loss and reinstatement,
and the application still gets the right bytes."""
import conformance as c


class Rej(c.Target):
    armed = False

    def on_command(self, conn, pdu):
        if self.armed and pdu.cdb[0] in (0x28, 0x88):
            self.armed = False
            conn.send_reject(pdu, 0x04)
            return True
        return False


def main(t):
    tgt = t.target(Rej, prefs=c.QUICK_PREFS)
    d = t.daemon(tgt, keys="AuthMethod=None" + c.QUICK)
    d.start()
    tgt.armed = True
    d.check_read(12288, 4096, t.expect(12288, 4096))
    t.check(tgt.sent(c.OP_REJECT), "no Reject was sent")


c.run(main)
