#!/usr/bin/env python3
"""RFC 7143 13.21 (SessionType), 13.3 (SendTargets) and 11.10 (Text Request); UNH-IOL Login
Phase #21.1 (SessionType) and Full Feature Phase #18.1, #18.3.1 (Text Request fields). A
channel without a target name opens a Discovery session (SessionType=Discovery, no
TargetName), asks SendTargets=All in a final Text Request with a valid ITT and TTT
0xffffffff, logs out, then logs in to the target found with SessionType=Normal."""
import conformance as c


def main(t):
    tgt = t.target()
    d = t.daemon(tgt, iqn=None)
    d.start()
    lead = [p for p in tgt.logins() if p.key("SessionType")]
    t.check(len(lead) >= 2, "%d leading logins, not a discovery and a normal one" % len(lead))
    t.check(lead[0].key("SessionType") == "Discovery", "first SessionType %r" %
            lead[0].key("SessionType"))
    t.check(lead[0].key("TargetName") is None, "a discovery login with a TargetName")
    t.check(lead[-1].key("SessionType") == "Normal" and lead[-1].key("TargetName") == tgt.iqn,
            "the normal login does not name the target found")
    txt = tgt.received(c.OP_TEXT_REQ)
    t.check(txt, "no Text Request")
    q = txt[0]
    t.check(q.key("SendTargets") == "All", "Text Request keys %r" % q.keys)
    t.check(q.final and not q.cont, "the Text Request is not final")
    t.check(q.itt != c.RSVD and q.ttt == c.RSVD, "ITT 0x%08x TTT 0x%08x" % (q.itt, q.ttt))
    disc_conn = q.conn
    t.check([p for p in tgt.received(c.OP_LOGOUT_REQ) if p.conn == disc_conn],
            "the discovery session was not logged out")
    d.check_read(0, 4096, t.expect(0, 4096, lun=0))


c.run(main)
