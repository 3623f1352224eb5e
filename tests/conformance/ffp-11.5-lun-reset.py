#!/usr/bin/env python3
"""RFC 7143 11.5 and 11.5.1 (LOGICAL UNIT RESET) and 11.6.1; UNH-IOL Full Feature Phase #19.2
(TMF LUN field). When the target rejects the ABORT TASK of a READ it never answered, the
initiator resets the LUN: LOGICAL UNIT RESET, immediate, for the READ's LUN, Referenced Task
Tag 0xffffffff. The reset ends the READ with an I/O error, and the LUN works afterwards."""
import errno
import conformance as c


class Lose(c.Target):
    armed = False

    def on_command(self, conn, pdu):
        if self.armed and pdu.cdb[0] in (0x28, 0x88):
            self.armed = False
            self.lost = pdu
            return True
        return False

    def on_pdu(self, conn, pdu):
        if pdu.opcode == c.OP_TMF_REQ and pdu.function == c.TMF_ABORT_TASK:
            b = conn.header(c.OP_TMF_RSP, 0x80, pdu.itt)
            b[2] = c.TMF_REJECTED
            conn.send_status(b)
            return True
        return False


def main(t):
    tgt = t.target(Lose, luns=(0, 1))
    d = t.daemon(tgt, attrs="nopout_timeout=0;command_timeout=2;login_timeout=5")
    d.start()
    tgt.armed = True
    try:
        d.read(0, 4096, lun=1)
        t.fail("the READ ended without an error although its LUN was reset")
    except OSError as e:
        t.check(e.errno == errno.EIO, "the READ failed with %s, not EIO" % e)
    resets = [p for p in tgt.received(c.OP_TMF_REQ) if p.function == c.TMF_LUN_RESET]
    t.check(resets, "no LOGICAL UNIT RESET")
    r = resets[0]
    t.check(r.immediate and r.lun == tgt.lost.lun and r.ref_itt == c.RSVD,
            "LOGICAL UNIT RESET: I %d, LUN %s, RefTaskTag 0x%08x" % (r.immediate, r.lun.hex(),
                                                                   r.ref_itt))
    d.check_read(0, 4096, t.expect(0, 4096, lun=1), lun=1)


c.run(main)
