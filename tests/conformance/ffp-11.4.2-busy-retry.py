#!/usr/bin/env python3
"""RFC 7143 11.4.2 (Status) and SAM-5 (BUSY); UNH-IOL Full Feature Phase #16.4.5. A READ
answered with BUSY is issued again later as a new task (new ITT and CmdSN, same CDB), and
the application gets its data, not an error."""
import conformance as c


class Busy(c.Target):
    armed = False
    busy = None

    def on_command(self, conn, pdu):
        if self.armed and pdu.cdb[0] in (0x28, 0x88):
            self.armed = False
            self.busy = pdu
            conn.respond(pdu, c.BUSY)
            return True
        return False


def main(t):
    tgt = t.target(Busy)
    d = t.daemon(tgt)
    d.start()
    tgt.armed = True
    d.check_read(16384, 8192, t.expect(16384, 8192))
    again = [p for p in tgt.commands(0x28, 0x88) if p.cdb == tgt.busy.cdb and p is not tgt.busy]
    t.check(again, "the READ was not issued again")
    t.check(again[0].itt != tgt.busy.itt and c.sn_lt(tgt.busy.cmd_sn, again[0].cmd_sn),
            "the new READ reuses ITT or CmdSN")


c.run(main)
