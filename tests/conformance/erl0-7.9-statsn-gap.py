#!/usr/bin/env python3
"""RFC 7143 7.9 (Sequence Errors) and 4.2.2.2. A status whose StatSN skips one (the status
before it was never sent) is a sequence error; at ErrorRecoveryLevel 0 the initiator drops
the connection, reinstates the session, and the READ is done again with the right bytes."""
import conformance as c


def main(t):
    tgt = t.target(prefs=c.QUICK_PREFS)
    d = t.daemon(tgt, keys="AuthMethod=None" + c.QUICK)
    d.start()
    d.read(0, 4096)
    conn = tgt.current()
    skipped = conn.take_stat_sn()   # never sent: the next status shows the gap
    conn.say("StatSN 0x%08x skipped" % skipped)
    d.check_read(8192, 4096, t.expect(8192, 4096))
    t.check(d.said(r"StatSN"), "the log does not name the StatSN gap")
    t.check(len(tgt.conns) >= 2, "the connection with the gap was kept")


c.run(main)
