#!/usr/bin/env python3
"""RFC 7143 11.7.2 (the A bit), 11.16 (DataACK SNACK); UNH-IOL Full Feature Phase #10.2
(Data-in A bit) and #13.2 (DataACK for SNACK). With ErrorRecoveryLevel 1, the target sets the
A bit on every second Data-In of a read; each is answered with a DataACK SNACK carrying the
Data-In's Target Transfer Tag and LUN, ITT reserved, BegRun one past its DataSN, RunLength 0.
The read returns the right bytes."""
import conformance as c


def main(t):
    tgt = t.target(erl=1, datain_chunk=4096, prefs=c.QUICK_PREFS)
    d = t.daemon(tgt, keys="AuthMethod=None;ErrorRecoveryLevel=1" + c.QUICK)
    d.start()
    tgt.datain_ack_every = 2
    d.check_read(0, 32768, t.expect(0, 32768))
    read = tgt.commands(0x28, 0x88)[-1]
    asked = [p for p in tgt.sent(c.OP_DATA_IN) if p.itt == read.itt and p.ack]
    t.check(len(asked) == 4, "%d Data-In with the A bit, 4 expected" % len(asked))
    t.wait(lambda: len(tgt.acks) >= len(asked), 5)
    got = {(a.ttt, a.beg_run) for a in tgt.acks}
    want = {(p.ttt, p.data_sn + 1) for p in asked}
    t.check(got == want, "DataACKs (TTT, BegRun) %s; expected %s" % (sorted(got), sorted(want)))
    for a in tgt.acks:
        t.check(a.itt == c.RSVD and a.run_length == 0 and a.lun == read.lun,
                "a DataACK with ITT 0x%08x, RunLength %d, LUN %s" % (a.itt, a.run_length,
                                                                     a.lun.hex()))


c.run(main)
