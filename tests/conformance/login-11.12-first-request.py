#!/usr/bin/env python3
"""RFC 7143 11.12 (Login Request) and 6.3.1 (Login Phase Start); UNH-IOL Login Phase #1.1
(Standard Login). The first Login Request of a new session is immediate, in the security
stage, offers version 0, carries TSIH 0, ITT, ISID and CID, and names the initiator, the
session type and the target; the login then completes and the LUN reads as the target holds."""
import conformance as c


def main(t):
    tgt = t.target()
    d = t.daemon(tgt)
    d.start()
    first = tgt.logins()[0]
    t.check(first.immediate, "the first Login Request lacks the I bit")
    t.check(first.csg == 0, "the first Login Request is for stage %d, not 0" % first.csg)
    t.check(first.version_max == 0 and first.version_min == 0,
            "version-max/min %d/%d, not 0/0" % (first.version_max, first.version_min))
    t.check(first.tsih == 0, "the leading login carries TSIH %d, not 0" % first.tsih)
    t.check(first.key("InitiatorName") == c.INITIATOR_IQN, "InitiatorName is %r, not %r" %
            (first.key("InitiatorName"), c.INITIATOR_IQN))
    t.check(first.key("SessionType") == "Normal", "SessionType is %r" % first.key("SessionType"))
    t.check(first.key("TargetName") == tgt.iqn, "TargetName is %r" % first.key("TargetName"))
    t.check(first.key("AuthMethod") is not None, "no AuthMethod in the first request")
    d.check_read(0, 65536, t.expect(0, 65536))


c.run(main)
