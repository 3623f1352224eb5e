#!/usr/bin/env python3
"""RFC 7143 7.8 (a target that finds a data digest error in a Data-Out asks for the data
again with a recovery R2T). With ErrorRecoveryLevel 1, the target treats the first Data-Out of
a write as damaged and, once the burst is over, sends an R2T for bytes the initiator has sent
already. The initiator sends them again; the write completes once with the right bytes and no
new login."""
import conformance as c


def main(t):
    tgt = t.target(erl=1, prefs=c.QUICK_PREFS)
    d = t.daemon(tgt, keys="AuthMethod=None;ErrorRecoveryLevel=1" + c.QUICK)
    d.start()
    logins = len(tgt.logins())
    tgt.dataout_digest_error = {(tgt.writes + 1, 0)}
    data = c.pattern(65536, 21)
    d.write(196608, data)
    write = tgt.commands(0x2A, 0x8A)[-1]
    r2ts = [p for p in tgt.sent(c.OP_R2T) if p.itt == write.itt]
    covered = []
    recovery = None
    for r in r2ts:
        span = (r.buffer_offset, r.buffer_offset + r.desired_length)
        if any(a < span[1] and span[0] < b for a, b in covered):
            recovery = r
        covered.append(span)
    t.check(recovery is not None, "no recovery R2T for bytes already sent")
    again = [p for p in tgt.received(c.OP_DATA_OUT) if p.ttt == recovery.ttt]
    t.check(again and sum(p.dsl for p in again) == recovery.desired_length and
            again[0].buffer_offset == recovery.buffer_offset,
            "the recovery R2T was not answered with its bytes")
    logged = [w for w in tgt.write_log if w.itt == write.itt]
    t.check(len(logged) == 1, "the write was applied %d times" % len(logged))
    t.check(bytes(tgt.disks[0][196608:196608 + 65536]) == data, "the target does not hold the "
            "written bytes")
    t.check(len(tgt.logins()) == logins, "the initiator logged in again")
    d.check_read(196608, 65536, data)


c.run(main)
