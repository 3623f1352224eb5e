#!/usr/bin/env python3
"""RFC 7143 7.14 (Connection Failures) and 6.3.5 (session reinstatement); the recovery of
ErrorRecoveryLevel 0. The target closes the connection with a READ unanswered; the
initiator reinstates the session and sends the READ again, and the application gets the
right bytes with no error."""
import conformance as c


class Drop(c.Target):
    armed = False

    def on_command(self, conn, pdu):
        if self.armed and pdu.cdb[0] in (0x28, 0x88):
            self.armed = False
            conn.close()
            return True
        return False


def main(t):
    tgt = t.target(Drop, prefs=c.QUICK_PREFS)
    d = t.daemon(tgt, keys="AuthMethod=None" + c.QUICK)
    d.start()
    tgt.armed = True
    d.check_read(20480, 8192, t.expect(20480, 8192))
    t.check(len(tgt.conns) == 2, "%d connections" % len(tgt.conns))


c.run(main)
