#!/usr/bin/env python3
"""RFC 7143 13.2 (MaxConnections, a minimum); UNH-IOL Login Phase #10.1 (MaxConnections). An
initiator configured for two connections offers MaxConnections=2; when the target answers 1
it opens no second connection, and the session works on the one it has."""
import time
import conformance as c


def main(t):
    tgt = t.target(max_connections=1)
    d = t.daemon(tgt, conns=2)
    d.start()
    offer = [p.key("MaxConnections") for p in tgt.logins() if p.key("MaxConnections")]
    t.check(offer == ["2"], "MaxConnections offered as %r, not 2" % offer)
    d.check_read(0, 65536, t.expect(0, 65536))
    time.sleep(1)
    t.check(len(tgt.conns) == 1, "%d connections to a target that allows 1" % len(tgt.conns))
    t.check(d.said(r"the target allows 1"), "the log does not say that the target allows 1")


c.run(main)
