#!/usr/bin/env python3
"""RFC 7143 7.8 (Digest Errors), 7.9, 11.16.1. With ErrorRecoveryLevel 1 and CRC32C digests, a
Data-In arrives with a wrong header digest: the initiator discards it (its length is trusted
only because the next header checks out), the next Data-In's DataSN shows what is missing,
and a Data/R2T SNACK brings it again. The read returns the right bytes with no new login."""
import conformance as c


def main(t):
    tgt = t.target(erl=1, digests=True, datain_chunk=4096, prefs=c.QUICK_PREFS)
    d = t.daemon(tgt, keys="AuthMethod=None;HeaderDigest=CRC32C;DataDigest=CRC32C;"
                 "ErrorRecoveryLevel=1" + c.QUICK)
    d.start()
    logins = len(tgt.logins())
    tgt.corrupt_datain_hdr = {(tgt.reads + 1, 2)}
    d.check_read(65536, 32768, t.expect(65536, 32768))
    read = tgt.commands(0x28, 0x88)[-1]
    snacks = [p for p in tgt.snacks if p.type == 0]
    t.check([(s.itt, s.beg_run, s.run_length) for s in snacks] == [(read.itt, 2, 1)],
            "SNACKs %s; expected one for task 0x%08x, BegRun 2, RunLength 1" %
            ([(hex(s.itt), s.beg_run, s.run_length) for s in snacks], read.itt))
    t.check(d.said(r"header digest error"), "the log does not name the header digest error")
    t.check(len(tgt.logins()) == logins and len(tgt.conns) == 1, "the initiator logged in again")


c.run(main)
