#!/usr/bin/env python3
"""RFC 7143 4.2.2.1; UNH-IOL Full Feature Phase #3.2 (Large Window). With a window of 128
and a target slow to answer, eight threads reading at once have several commands outstanding
together, with distinct ITTs and CmdSNs, none beyond MaxCmdSN."""
import threading
import conformance as c


class Slow(c.Target):
    def on_command(self, conn, pdu):
        if pdu.cdb[0] in (0x28, 0x88) and self.slow:
            threading.Timer(0.05, conn.read, args=(pdu,)).start()
            return True
        return False


def main(t):
    tgt = t.target(Slow, window=128)
    tgt.slow = False
    d = t.daemon(tgt)
    d.start()
    tgt.slow = True

    def reader(k):
        return lambda: [d.read((k * 16 + i) * 4096, 4096) for i in range(4)]
    t.parallel([reader(k) for k in range(8)])
    outstanding, most, live = 0, 0, set()
    for p in tgt.trace:
        if not p.sent and p.opcode == c.OP_SCSI_CMD:
            t.check(p.itt not in live, "ITT 0x%08x used twice at once" % p.itt)
            live.add(p.itt)
            outstanding += 1
            most = max(most, outstanding)
        elif p.sent and (p.opcode == c.OP_SCSI_RSP or
                         (p.opcode == c.OP_DATA_IN and p.status_present)):
            live.discard(p.itt)
            outstanding -= 1
    t.check(most >= 2, "never more than %d command outstanding in a window of 128" % most)
    sns = [p.cmd_sn for p in tgt.received(c.OP_SCSI_CMD)]
    t.check(len(set(sns)) == len(sns), "a CmdSN used twice")


c.run(main)
