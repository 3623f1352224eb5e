#!/usr/bin/env python3
"""RFC 7143 4.2.2.1 (Command Numbering and Acknowledging); UNH-IOL Full Feature Phase #1.1
(Command Numbering). On one connection, each non-immediate command carries the CmdSN one
past the previous one, from the first command of the session on."""
import conformance as c


def main(t):
    tgt = t.target()
    d = t.daemon(tgt)
    d.start()
    for i in range(10):
        d.read(i * 4096, 4096)
        d.write(i * 4096, c.pattern(4096, i))
    cmds = tgt.received(c.OP_SCSI_CMD)
    t.check(len(cmds) >= 20, "only %d commands" % len(cmds))
    for a, b in zip(cmds, cmds[1:]):
        t.check(b.cmd_sn == (a.cmd_sn + 1) & 0xFFFFFFFF, "CmdSN 0x%08x after 0x%08x" %
                (b.cmd_sn, a.cmd_sn))
    t.check(not any(p.immediate for p in cmds), "a SCSI command marked immediate")


c.run(main)
