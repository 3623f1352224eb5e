#!/usr/bin/env python3
"""RFC 7143 4.2.2.1 and 11.18 (NOP-Out); UNH-IOL Full Feature Phase #2.1 (Immediate Delivery)
and #15.2 (NOP-Out Ping Request). The initiator's ping is an immediate NOP-Out (I and F
bits, a valid ITT, TTT 0xffffffff) that carries the next CmdSN without consuming it: the next
command carries the same CmdSN."""
import conformance as c


def ping(tgt):
    return [p for p in tgt.received(c.OP_NOP_OUT) if p.itt != c.RSVD]


def main(t):
    tgt = t.target()
    d = t.daemon(tgt, attrs="nopout_timeout=1;nopout_response_timeout=5;login_timeout=5")
    d.start()
    d.read(0, 4096)
    t.wait(lambda: ping(tgt), 6, "no NOP-Out ping after 1 s of silence")
    p = ping(tgt)[0]
    d.read(4096, 4096)
    # On one connection the wire order is the order the initiator numbered them in.
    order = [q for q in tgt.received() if q.opcode == c.OP_SCSI_CMD or q is p]
    i = order.index(p)
    t.check(p.immediate and p.final, "the ping lacks the I or F bit")
    t.check(p.ttt == c.RSVD, "the ping has TTT 0x%08x" % p.ttt)
    t.check(i > 0 and p.cmd_sn == (order[i - 1].cmd_sn + 1) & 0xFFFFFFFF, "the ping carries "
            "CmdSN 0x%08x after a command with 0x%08x" % (p.cmd_sn, order[i - 1].cmd_sn))
    nxt = order[i + 1]
    t.check(nxt.cmd_sn == p.cmd_sn, "the command after the ping carries CmdSN 0x%08x, the ping "
            "0x%08x" % (nxt.cmd_sn, p.cmd_sn))


c.run(main)
