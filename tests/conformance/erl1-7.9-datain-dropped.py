#!/usr/bin/env python3
"""RFC 7143 7.9 (Sequence Errors), 11.16.1 (Data/R2T SNACK); UNH-IOL Full Feature Phase #13.1
(Begin Run for SNACK). With ErrorRecoveryLevel 1, a Data-In of a read goes missing: the next
one's DataSN shows the gap, and the initiator asks for the missing one with a Data/R2T SNACK
(the read's ITT, BegRun its DataSN, RunLength 1) on the same connection. The target sends it
again, the read returns the right bytes, and there is no new login."""
import conformance as c


def main(t):
    tgt = t.target(erl=1, datain_chunk=4096, prefs=c.QUICK_PREFS)
    d = t.daemon(tgt, keys="AuthMethod=None;ErrorRecoveryLevel=1" + c.QUICK)
    d.start()
    t.check(d.said(r"ErrorRecoveryLevel 1\)"), "the log does not give the level granted")
    logins = len(tgt.logins())
    tgt.drop_datain = {(tgt.reads + 1, 1)}
    d.check_read(0, 32768, t.expect(0, 32768))
    read = tgt.commands(0x28, 0x88)[-1]
    snacks = [p for p in tgt.snacks if p.type == 0]
    t.check(len(snacks) == 1, "%d Data/R2T SNACKs, one expected" % len(snacks))
    s = snacks[0]
    t.check((s.itt, s.beg_run, s.run_length, s.ttt) == (read.itt, 1, 1, c.RSVD),
            "the SNACK names task 0x%08x, BegRun %d, RunLength %d, TTT 0x%08x; expected task "
            "0x%08x, 1, 1, 0xffffffff" % (s.itt, s.beg_run, s.run_length, s.ttt, read.itt))
    t.check(s.conn == read.conn, "the SNACK went on another connection")
    t.check(len(tgt.logins()) == logins and len(tgt.conns) == 1, "the initiator logged in again")
    t.check(d.said(r"did not arrive; asking for it again"), "the log does not say what was "
            "asked for again")


c.run(main)
