#!/usr/bin/env python3
"""RFC 7143 7.8 (Digest Errors) and 7.1.4 (recovery classes at ErrorRecoveryLevel 0). A
Data-In whose header digest is wrong cannot be trusted at all: at ERL 0 the initiator drops
the connection, reinstates the session, sends the READ again, and the application gets the
right bytes."""
import conformance as c


def main(t):
    tgt = t.target(digests=True, prefs=c.QUICK_PREFS)
    d = t.daemon(tgt, keys="AuthMethod=None;HeaderDigest=CRC32C;DataDigest=CRC32C" + c.QUICK)
    d.start()
    tgt.corrupt_datain_hdr = {(tgt.reads + 1, 0)}
    d.check_read(0, 16384, t.expect(0, 16384))
    t.check(d.said(r"header digest error"), "the log does not name the header digest error")
    t.check(len(tgt.conns) >= 2, "the connection with the digest error was kept")


c.run(main)
