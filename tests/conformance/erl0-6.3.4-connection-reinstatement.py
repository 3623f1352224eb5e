#!/usr/bin/env python3
"""RFC 7143 6.3.4 (Connection Reinstatement) and 11.12.7 (CID). In a session of two
connections, when one is lost, the initiator logs it in again with the same CID and the
session's TSIH, while the other goes on."""
import conformance as c


def main(t):
    tgt = t.target(max_connections=2, prefs=c.QUICK_PREFS)
    d = t.daemon(tgt, conns=2, keys="AuthMethod=None" + c.QUICK)
    d.start()
    t.wait(lambda: len([x for x in tgt.conns if x.full_feature]) >= 2, 10, "no second connection")
    lost = tgt.conn_of(2)
    tsih = lost.session.tsih
    lost.close()
    t.wait(lambda: len([x for x in tgt.conns if x.full_feature]) >= 3, 20,
           "the lost connection was not logged in again")
    again = [p for p in tgt.logins() if p.conn == 3][0]
    t.check(again.cid == lost.cid and again.tsih == tsih, "the new connection has CID %d TSIH %d,"
            " the lost one had %d and %d" % (again.cid, again.tsih, lost.cid, tsih))
    t.check(not tgt.conn_of(1).closed, "the other connection was closed")
    d.check_read(0, 65536, t.expect(0, 65536))


c.run(main)
