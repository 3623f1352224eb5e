#!/usr/bin/env python3
"""RFC 7143 7.8 (Digest Errors: an initiator that receives a data PDU with a payload digest
error discards it and asks for it with a SNACK), 11.16.1. With ErrorRecoveryLevel 1, a Data-In
arrives with a wrong data digest; its header is sound, so the initiator asks for that DataSN
at once. The read returns the right bytes, not the damaged ones, with no new login."""
import conformance as c


def main(t):
    tgt = t.target(erl=1, digests=True, datain_chunk=4096, prefs=c.QUICK_PREFS)
    d = t.daemon(tgt, keys="AuthMethod=None;HeaderDigest=CRC32C;DataDigest=CRC32C;"
                 "ErrorRecoveryLevel=1" + c.QUICK)
    d.start()
    logins = len(tgt.logins())
    tgt.corrupt_datain_data = {(tgt.reads + 1, 3)}
    d.check_read(131072, 32768, t.expect(131072, 32768))
    read = tgt.commands(0x28, 0x88)[-1]
    snacks = [p for p in tgt.snacks if p.type == 0]
    t.check([(s.itt, s.beg_run, s.run_length) for s in snacks] == [(read.itt, 3, 1)],
            "SNACKs %s; expected one for task 0x%08x, BegRun 3, RunLength 1" %
            ([(hex(s.itt), s.beg_run, s.run_length) for s in snacks], read.itt))
    t.check(d.said(r"data digest error"), "the log does not name the data digest error")
    t.check(len(tgt.logins()) == logins and len(tgt.conns) == 1, "the initiator logged in again")


c.run(main)
