#!/usr/bin/env python3
"""RFC 7143 11.12.6 (TSIH) and 11.12.5 (ISID); UNH-IOL Login Phase #2.1 (TSIH) and #2.3 (TSIH
in Second Connection). The leading login carries TSIH 0; a second connection of the same
session logs in with the TSIH the target gave, the same ISID and a CID of its own."""
import conformance as c


def main(t):
    tgt = t.target(max_connections=2)
    d = t.daemon(tgt, conns=2)
    d.start()
    t.wait(lambda: len(tgt.logins()) and len({p.conn for p in tgt.logins()}) >= 2, 10,
           "no second connection logged in")
    t.wait(lambda: len([c2 for c2 in tgt.conns if c2.full_feature]) >= 2, 10,
           "the second connection did not reach full feature phase")
    final = [p for p in tgt.sent(c.OP_LOGIN_RSP, conn=1) if p.transit and p.nsg == 3][0]
    first1 = tgt.logins()[0]
    second = [p for p in tgt.logins() if p.conn == 2][0]
    t.check(first1.tsih == 0, "the leading login carries TSIH %d" % first1.tsih)
    t.check(final.tsih != 0, "the target gave no TSIH")
    t.check(second.tsih == final.tsih, "the second connection logs in with TSIH %d, the session "
            "has %d" % (second.tsih, final.tsih))
    t.check(second.isid == first1.isid, "the second connection has another ISID")
    t.check(second.cid != first1.cid, "both connections have CID %d" % second.cid)
    d.check_read(0, 65536, t.expect(0, 65536))


c.run(main)
