#!/usr/bin/env python3
"""RFC 7143 13.10 (InitialR2T, a Boolean OR) and 6.2.2; UNH-IOL Login Phase #13.1 (Boolean
Negotiation) and #13.2 (Legal Boolean Negotiation). The initiator offers InitialR2T=No; the
target may answer Yes, and then the initiator sends no unsolicited Data-Out: only immediate
data and what R2Ts ask for."""
import conformance as c


def main(t):
    tgt = t.target(answers={"InitialR2T": "Yes"})
    d = t.daemon(tgt)
    d.start()
    offer = [p.key("InitialR2T") for p in tgt.logins() if p.key("InitialR2T")]
    t.check(offer == ["No"], "InitialR2T offered as %r" % offer)
    data = c.pattern(131072)
    d.write(0, data)
    unsolicited = [p for p in tgt.received(c.OP_DATA_OUT) if p.ttt == c.RSVD]
    t.check(not unsolicited, "%d unsolicited Data-Out PDUs with InitialR2T=Yes" %
            len(unsolicited))
    t.check(tgt.received(c.OP_DATA_OUT), "no Data-Out at all for a 128 KiB write")
    d.check_read(0, 131072, data)


c.run(main)
