#!/usr/bin/env python3
"""RFC 7143 7.8 (Digest Errors: a data digest error on Data-In). At ErrorRecoveryLevel 0 the
initiator cannot ask for the data again: it recovers by dropping the connection, the READ is
sent again after reinstatement, and the application gets the right bytes."""
import conformance as c


def main(t):
    tgt = t.target(digests=True, datain_chunk=4096, prefs=c.QUICK_PREFS)
    d = t.daemon(tgt, keys="AuthMethod=None;HeaderDigest=CRC32C;DataDigest=CRC32C" + c.QUICK)
    d.start()
    tgt.corrupt_datain_data = {(tgt.reads + 1, 1)}
    d.check_read(0, 16384, t.expect(0, 16384))
    t.check(d.said(r"data digest error"), "the log does not name the data digest error")


c.run(main)
