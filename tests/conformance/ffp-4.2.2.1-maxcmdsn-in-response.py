#!/usr/bin/env python3
"""RFC 7143 4.2.2.1 and 11.4.8 (MaxCmdSN in the SCSI Response); UNH-IOL Full Feature Phase
#16.5. In a window of two commands the target stops advancing MaxCmdSN: once its responses
show the window closed, the initiator holds its next commands back until a NOP-In opens the
window again."""
import threading
import time
import conformance as c


def main(t):
    tgt = t.target(window=2)
    tgt.opened = None
    d = t.daemon(tgt)
    d.start()
    with tgt.lock:
        limit = tgt.current().session.max_cmd_sn   # what is granted cannot be taken back
        tgt.max_cmd_sn_fixed = limit

    def reopen():
        tgt.opened = time.monotonic()
        tgt.max_cmd_sn_fixed = None
        tgt.current().send_nop_in()
    threading.Timer(1.5, reopen).start()
    t.parallel([lambda k=k: d.read(k * 4096, 4096) for k in range(6)])
    late = [p for p in tgt.received(c.OP_SCSI_CMD) if c.sn_lt(limit, p.cmd_sn)]
    t.check(late, "no command beyond the closed window was ever sent")
    t.check(all(p.time >= tgt.opened for p in late), "a command beyond MaxCmdSN 0x%08x arrived "
            "before the window opened" % limit)


c.run(main)
