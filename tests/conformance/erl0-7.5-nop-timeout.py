#!/usr/bin/env python3
"""RFC 7143 7.5 (Connection Timeout Management) and 11.18. A ping (NOP-Out) that gets no
NOP-In within nopout_response_timeout means the connection is dead: the initiator drops it,
reinstates the session and goes on."""
import conformance as c


class Mute(c.Target):
    swallowed = 0

    def on_pdu(self, conn, pdu):
        if pdu.opcode == c.OP_NOP_OUT and pdu.itt != c.RSVD and conn.index == 1:
            self.swallowed += 1
            return True
        return False


def main(t):
    tgt = t.target(Mute, prefs=c.QUICK_PREFS)
    d = t.daemon(tgt, keys="AuthMethod=None" + c.QUICK, attrs="nopout_timeout=1;nopout_response_timeout=2;login_timeout=5")
    d.start()
    t.wait(lambda: len(tgt.conns) >= 2, 15, "the unanswered ping did not cost the connection")
    t.check(d.said(r"no answer to a NOP-Out ping"), "the log does not say why")
    d.check_read(0, 4096, t.expect(0, 4096))


c.run(main)
