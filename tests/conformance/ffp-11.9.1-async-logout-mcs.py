#!/usr/bin/env python3
"""RFC 7143 11.9.1 (AsyncEvent 1 for one connection of several) and 11.14 (Logout reason 1);
UNH-IOL Full Feature Phase #14.2 (Multi Connection Async Logout Request). The initiator logs
out just the connection the message came on (reason 1, its CID); the other connection stays
up throughout, and the session goes on."""
import conformance as c


def main(t):
    tgt = t.target(max_connections=2)
    d = t.daemon(tgt, conns=2)
    d.start()
    t.wait(lambda: len([x for x in tgt.conns if x.full_feature]) >= 2, 10, "no second connection")
    one, other = tgt.conn_of(2), tgt.conn_of(1)
    one.send_async(1, 0, 0, 5)
    t.wait(lambda: tgt.received(c.OP_LOGOUT_REQ), 6, "no Logout Request within 5 s")
    lo = tgt.received(c.OP_LOGOUT_REQ)[0]
    t.check(lo.reason == 1 and lo.cid == one.cid, "Logout reason %d for CID %d, not reason 1 "
            "for CID %d" % (lo.reason, lo.cid, one.cid))
    d.check_read(0, 65536, t.expect(0, 65536))
    t.check(not other.closed, "the other connection was closed too")


c.run(main)
