#!/usr/bin/env python3
"""RFC 7143 7.9 (Sequence Errors), 4.2.2.2 (StatSN), 11.16.2 (Status SNACK), 11.19. With
ErrorRecoveryLevel 1, the status of a read never arrives (the target skips it). The initiator
does not acknowledge it and, when the next status shows the gap in StatSN, asks for it with a
Status SNACK (ITT reserved, BegRun the missing StatSN, RunLength 1). A second status goes
missing the same way, and a NOP-In, which carries the next StatSN, shows that gap. Each read
returns the right bytes, and there is no new login."""
import threading
import conformance as c


def background_read(t, d, off, n, box):
    def run():
        try:
            box["data"] = d.read(off, n)
        except BaseException as e:   # noqa: B902 (reported by the test)
            box["error"] = e
    th = threading.Thread(target=run, daemon=True)
    th.start()
    return th


def main(t):
    tgt = t.target(erl=1, prefs=c.QUICK_PREFS)
    d = t.daemon(tgt, keys="AuthMethod=None;ErrorRecoveryLevel=1" + c.QUICK)
    d.start()
    logins = len(tgt.logins())
    conn = tgt.current()

    # A later status shows the gap.
    skipped = tgt.statuses + 1
    tgt.statsn_gap = {skipped}
    box = {}
    th = background_read(t, d, 0, 4096, box)
    t.wait(lambda: tgt.statuses >= skipped, 10, "the first read did not reach the target")
    missing = (conn.stat_sn - 1) & 0xFFFFFFFF
    d.check_read(1 << 20, 4096, t.expect(1 << 20, 4096))
    th.join(20)
    t.check(box.get("data") == t.expect(0, 4096), "the read whose status was missing returned "
            "%s" % ("wrong bytes" if "data" in box else box.get("error", "nothing")))
    st = [p for p in tgt.snacks if p.type == 1]
    t.check(st and (st[0].itt, st[0].beg_run, st[0].run_length) == (c.RSVD, missing, 1),
            "no Status SNACK for StatSN 0x%08x (ITT reserved, RunLength 1): %s" %
            (missing, [(hex(p.itt), hex(p.beg_run), p.run_length) for p in st]))

    # A NOP-In shows the gap.
    skipped = tgt.statuses + 1
    tgt.statsn_gap = {skipped}
    box = {}
    th = background_read(t, d, 2 << 20, 4096, box)
    t.wait(lambda: tgt.statuses >= skipped, 10, "the third read did not reach the target")
    missing = (conn.stat_sn - 1) & 0xFFFFFFFF
    conn.send_nop_in()
    th.join(20)
    t.check(box.get("data") == t.expect(2 << 20, 4096), "the read whose status was missing "
            "returned %s" % ("wrong bytes" if "data" in box else box.get("error", "nothing")))
    st = [p for p in tgt.snacks if p.type == 1]
    t.check(len(st) == 2 and (st[1].beg_run, st[1].run_length) == (missing, 1),
            "no Status SNACK for StatSN 0x%08x after the NOP-In" % missing)
    t.check(len(tgt.logins()) == logins and len(tgt.conns) == 1, "the initiator logged in again")


c.run(main)
