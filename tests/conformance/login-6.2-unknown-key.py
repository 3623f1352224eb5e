#!/usr/bin/env python3
"""RFC 7143 6.2 (Text Mode Negotiation: a key not understood is answered NotUnderstood);
UNH-IOL Login Phase #7.6 (Login Request Invalid Key). The target declares a key the
initiator does not know, in a response that asks for another exchange; the initiator's next
request answers it with NotUnderstood and the login goes on."""
import conformance as c

KEY = "X-org.iscsifs.test.Unknown"


def main(t):
    tgt = t.target(declare={1: [(KEY, "1")]}, delay_transit=1)
    d = t.daemon(tgt)
    d.start()
    answers = [p.key(KEY) for p in tgt.logins() if p.key(KEY) is not None]
    t.check(answers == ["NotUnderstood"], "the unknown key was answered %r, not "
            "[\'NotUnderstood\']" % answers)
    d.check_read(0, 4096, t.expect(0, 4096))


c.run(main)
