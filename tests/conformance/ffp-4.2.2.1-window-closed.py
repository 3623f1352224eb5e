#!/usr/bin/env python3
"""RFC 7143 4.2.2.1 (MaxCmdSN = ExpCmdSN - 1: the window is closed); UNH-IOL Full Feature
Phase #3.1 (Closed Window). The login ends with a closed window; the initiator sends no
command until a NOP-In opens it 1.5 s later, and then the LUN scan and I/O go on."""
import threading
import time
import conformance as c


class Closed(c.Target):
    def login_hook(self, conn, req, keys, rsp):
        if rsp.transit and rsp.nsg == 3:
            self.max_cmd_sn_fixed = (req.cmd_sn - 1) & 0xFFFFFFFF
            rsp.max_cmd_sn = self.max_cmd_sn_fixed

    def after_login(self, conn):
        def reopen():
            self.opened = time.monotonic()
            self.max_cmd_sn_fixed = None
            conn.send_nop_in()
        threading.Timer(1.5, reopen).start()


def main(t):
    tgt = t.target(Closed)
    d = t.daemon(tgt)
    d.start()
    first = tgt.received(c.OP_SCSI_CMD)[0]
    t.check(first.time >= tgt.opened, "a command arrived %.2f s before the window opened" %
            (tgt.opened - first.time))
    d.check_read(0, 4096, t.expect(0, 4096))


c.run(main)
