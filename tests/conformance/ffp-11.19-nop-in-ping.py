#!/usr/bin/env python3
"""RFC 7143 11.19 (NOP-In) and 11.18 (NOP-Out); UNH-IOL Full Feature Phase #15.1 (NOP-Out Ping
Response). A target ping (NOP-In with a TTT, ITT 0xffffffff, a LUN and data) is answered by
an immediate NOP-Out with ITT 0xffffffff that echoes the TTT, the LUN and the data, and
carries the next CmdSN."""
import conformance as c


def main(t):
    tgt = t.target()
    d = t.daemon(tgt)
    d.start()
    d.read(0, 4096)
    conn = tgt.current()
    conn.send_nop_in(ttt=0x1234, lun=c.lun_bytes(5), data=b"ping-data-7143")
    t.wait(lambda: tgt.ping_answers, 5, "the ping was not answered")
    p = tgt.ping_answers[0]
    last = tgt.received(c.OP_SCSI_CMD)[-1]
    t.check(p.itt == c.RSVD and p.ttt == 0x1234, "ITT 0x%08x TTT 0x%08x" % (p.itt, p.ttt))
    t.check(p.immediate and p.final, "the answer lacks the I or F bit")
    t.check(p.lun == c.lun_bytes(5), "LUN %s not echoed" % p.lun.hex())
    t.check(p.data == b"ping-data-7143", "data %r not echoed" % p.data)
    t.check(p.cmd_sn == (last.cmd_sn + 1) & 0xFFFFFFFF, "CmdSN 0x%08x" % p.cmd_sn)


c.run(main)
