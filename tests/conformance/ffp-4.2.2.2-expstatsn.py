#!/usr/bin/env python3
"""RFC 7143 4.2.2.2 (Response/Status Numbering and Acknowledging) and 11.14; UNH-IOL Full
Feature Phase #5.1 (ExpStatSN). The ExpStatSN the initiator sends never acknowledges a status
not sent yet and never goes back (the scripted target checks each PDU), and the Logout at
umount acknowledges every status the connection carried."""
import conformance as c


def main(t):
    tgt = t.target()
    d = t.daemon(tgt)
    d.start()
    for i in range(6):
        d.write(i * 8192, c.pattern(8192, i))
        d.read(i * 8192, 8192)
    d.stop_checked()
    lo = tgt.received(c.OP_LOGOUT_REQ)
    t.check(lo, "no Logout Request")
    last = [p for p in tgt.sent() if p.conn == lo[0].conn and p.opcode in
            (c.OP_SCSI_RSP, c.OP_NOP_IN) or (p.opcode == c.OP_DATA_IN and p.status_present)]
    want = (max(last, key=lambda p: p.time).stat_sn + 1) & 0xFFFFFFFF
    t.check(lo[0].exp_stat_sn == want, "the Logout carries ExpStatSN 0x%08x, 0x%08x was due" %
            (lo[0].exp_stat_sn, want))


c.run(main)
