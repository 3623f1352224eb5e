#!/usr/bin/env python3
"""RFC 7143 13.4 (TargetName) and 13.5 (InitiatorName): both are sent in the first Login
Request of every connection of a Normal session; UNH-IOL Login Phase #11.1 (Initiator Name
Target Name)."""
import conformance as c


def main(t):
    tgt = t.target(max_connections=2)
    d = t.daemon(tgt, conns=2)
    d.start()
    t.wait(lambda: len([x for x in tgt.conns if x.full_feature]) >= 2, 10,
           "the second connection did not log in")
    for conn in (1, 2):
        first = [p for p in tgt.logins() if p.conn == conn][0]
        t.check(first.key("InitiatorName") == c.INITIATOR_IQN,
                "connection %d: InitiatorName %r" % (conn, first.key("InitiatorName")))
        t.check(first.key("TargetName") == tgt.iqn,
                "connection %d: TargetName %r" % (conn, first.key("TargetName")))


c.run(main)
