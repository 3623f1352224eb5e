#!/usr/bin/env python3
"""RFC 7143 11.14 (Logout Request) and 11.15; UNH-IOL Full Feature Phase #17.1 (Logout). At
umount the initiator sends a Logout Request to close the session (reason 0, I and F bits, its
CID, a valid ITT, the next CmdSN), waits for the Logout Response, sends nothing after it,
and exits cleanly."""
import conformance as c


def main(t):
    tgt = t.target()
    d = t.daemon(tgt)
    d.start()
    d.write(0, c.pattern(8192))
    last = tgt.received(c.OP_SCSI_CMD)[-1]
    d.stop_checked()
    lo = tgt.received(c.OP_LOGOUT_REQ)
    t.check(len(lo) == 1, "%d Logout Requests" % len(lo))
    lo = lo[0]
    t.check(lo.reason == 0, "Logout reason %d" % lo.reason)
    t.check(lo.immediate and lo.final, "I/F bits %d/%d" % (lo.immediate, lo.final))
    t.check(lo.cid == tgt.conn_of(1).cid and lo.itt != c.RSVD, "CID %d ITT 0x%08x" %
            (lo.cid, lo.itt))
    t.check(lo.cmd_sn == (last.cmd_sn + 1) & 0xFFFFFFFF, "CmdSN 0x%08x" % lo.cmd_sn)
    after = [p for p in tgt.received() if p.time > lo.time]
    t.check(not after, "%r sent after the Logout Request" % after[:3])


c.run(main)
