#!/usr/bin/env python3
"""RFC 7143 11.10 (Text Request: C bit and Target Transfer Tag) and 11.11; UNH-IOL Full
Feature Phase #18.3.2 (Text Request TTT, continuation). A SendTargets answer split over two
Text Responses (the first with C set, F clear and a TTT) is fetched whole: the initiator's
next Text Request has no data, the same ITT and the TTT of the partial response; the target
found is then logged in to."""
import conformance as c


def main(t):
    tgt = t.target()
    tgt.text_split = 20
    d = t.daemon(tgt, iqn=None)
    d.start()
    reqs = tgt.received(c.OP_TEXT_REQ)
    part = [p for p in tgt.sent(c.OP_TEXT_RSP) if p.cont]
    t.check(len(reqs) == 2 and part, "%d Text Requests for a split answer" % len(reqs))
    t.check(reqs[1].dsl == 0 and reqs[1].itt == reqs[0].itt and reqs[1].ttt == part[0].ttt,
            "the follow-up Text Request: %d bytes, ITT 0x%08x, TTT 0x%08x" %
            (reqs[1].dsl, reqs[1].itt, reqs[1].ttt))
    d.check_read(0, 4096, t.expect(0, 4096))


c.run(main)
