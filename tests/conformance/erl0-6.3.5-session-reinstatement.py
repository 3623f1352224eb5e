#!/usr/bin/env python3
"""RFC 7143 6.3.5 (Session Reinstatement) and 11.12.5 (ISID). After losing its only connection,
the initiator logs in again with the same InitiatorName and ISID and TSIH 0, which asks the
target to reinstate the session rather than start a second one."""
import conformance as c


def main(t):
    tgt = t.target(prefs=c.QUICK_PREFS)
    d = t.daemon(tgt, keys="AuthMethod=None" + c.QUICK)
    d.start()
    first = tgt.logins()[0]
    tgt.current().close()
    d.check_read(0, 4096, t.expect(0, 4096), timeout=30)
    lead = [p for p in tgt.logins() if p.conn == 2][0]
    t.check(lead.isid == first.isid, "new ISID %s, was %s" % (lead.isid.hex(), first.isid.hex()))
    t.check(lead.tsih == 0, "the new login carries TSIH %d" % lead.tsih)
    t.check(lead.key("InitiatorName") == first.key("InitiatorName"), "another InitiatorName")


c.run(main)
