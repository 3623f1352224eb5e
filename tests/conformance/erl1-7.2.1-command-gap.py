#!/usr/bin/env python3
"""RFC 7143 7.2.1 (Usage of Retry: a command the target never received leaves a gap in the
command order, which the same command fills), 4.2.2.1. With ErrorRecoveryLevel 1, the target
silently loses a READ. When a later READ ends while ExpCmdSN still names the lost one, the
initiator sends it again on the same connection with its ITT and CmdSN; both reads return the
right bytes with no new login."""
import threading
import conformance as c


class Lose(c.Target):
    armed = False
    lost = None

    def on_command(self, conn, pdu):
        if self.armed and pdu.cdb[0] in (0x28, 0x88):
            self.armed = False
            self.lost = pdu
            conn.forget_command(pdu)
            conn.say("losing READ 0x%08x" % pdu.itt)
            return True
        return False

    def retry_allowed(self, pdu):
        return self.lost is not None and pdu.itt == self.lost.itt


def main(t):
    tgt = t.target(Lose, erl=1, prefs=c.QUICK_PREFS)
    d = t.daemon(tgt, keys="AuthMethod=None;ErrorRecoveryLevel=1" + c.QUICK)
    d.start()
    logins = len(tgt.logins())
    tgt.armed = True
    box = {}

    def first():
        try:
            box["data"] = d.read(16384, 8192)
        except BaseException as e:   # noqa: B902 (reported below)
            box["error"] = e
    th = threading.Thread(target=first, daemon=True)
    th.start()
    t.wait(lambda: tgt.lost is not None, 10, "the first READ did not reach the target")
    d.check_read(1 << 20, 8192, t.expect(1 << 20, 8192))
    th.join(20)
    t.check(box.get("data") == t.expect(16384, 8192), "the lost READ returned %s" %
            ("wrong bytes" if "data" in box else box.get("error", "nothing")))
    again = [p for p in tgt.received(c.OP_SCSI_CMD) if p.itt == tgt.lost.itt and
             p is not tgt.lost]
    t.check(len(again) == 1 and again[0].cmd_sn == tgt.lost.cmd_sn and
            again[0].conn == tgt.lost.conn, "the lost READ was not sent again once with its "
            "ITT and CmdSN on its connection")
    t.check(len(tgt.logins()) == logins, "the initiator logged in again")


c.run(main)
