#!/usr/bin/env python3
"""RFC 7143 7.9 (Sequence Errors) and 11.7.6 (Buffer Offset). A Data-In PDU of a read goes
missing; the next one's offset shows the hole. At ErrorRecoveryLevel 0 the initiator drops
the connection and the READ is done again after reinstatement, with the right bytes."""
import conformance as c


def main(t):
    tgt = t.target(datain_chunk=4096, prefs=c.QUICK_PREFS)
    d = t.daemon(tgt, keys="AuthMethod=None" + c.QUICK)
    d.start()
    tgt.drop_datain = {(tgt.reads + 1, 1)}
    d.check_read(0, 32768, t.expect(0, 32768))
    t.check(len(tgt.conns) >= 2, "the connection with the missing Data-In was kept")


c.run(main)
