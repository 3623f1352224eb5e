#!/usr/bin/env python3
"""RFC 7143 11.5 (Task Management Function Request) and 11.5.1; UNH-IOL Full Feature Phase
#2.2 (Immediate Task Management Delivery), #19.1 (CmdSN), #19.2 (LUN) and #19.3 (RefCmdSN).
A READ the target never answers is aborted after command_timeout with an immediate ABORT
TASK naming its ITT, LUN and CmdSN; the target answers "task does not exist" and the read is
sent again and completes."""
import conformance as c


class Lose(c.Target):
    armed = False

    def on_command(self, conn, pdu):
        if self.armed and pdu.cdb[0] in (0x28, 0x88):
            self.armed = False
            self.lost = pdu
            conn.say("losing READ 0x%08x" % pdu.itt)
            return True
        return False


def main(t):
    tgt = t.target(Lose, luns=(0, 1))
    d = t.daemon(tgt, attrs="nopout_timeout=0;command_timeout=2;login_timeout=5")
    d.start()
    tgt.armed = True
    d.check_read(8192, 8192, t.expect(8192, 8192, lun=1), lun=1)
    tmf = tgt.received(c.OP_TMF_REQ)
    t.check(tmf, "no Task Management Request")
    m, lost = tmf[0], tgt.lost
    t.check(m.function == c.TMF_ABORT_TASK, "function %d, not ABORT TASK" % m.function)
    t.check(m.immediate, "the ABORT TASK is not immediate")
    t.check(m.ref_itt == lost.itt, "Referenced Task Tag 0x%08x, the READ is 0x%08x" %
            (m.ref_itt, lost.itt))
    t.check(m.ref_cmd_sn == lost.cmd_sn, "RefCmdSN 0x%08x, the READ has 0x%08x" %
            (m.ref_cmd_sn, lost.cmd_sn))
    t.check(m.lun == lost.lun, "LUN %s, the READ's is %s" % (m.lun.hex(), lost.lun.hex()))
    t.check(m.itt not in (c.RSVD, lost.itt), "the request's own ITT is 0x%08x" % m.itt)
    t.check(m.cmd_sn == (lost.cmd_sn + 1) & 0xFFFFFFFF, "CmdSN 0x%08x" % m.cmd_sn)


c.run(main)
