#!/usr/bin/env python3
"""RFC 7143 11.7.1 (F bit of Data-Out: the last PDU of a sequence); UNH-IOL Full Feature Phase
#11.2.1 (Data-out F bit with Unsolicited Data). Of the unsolicited Data-Out PDUs of a write,
the last one alone has the F bit."""
import conformance as c


def main(t):
    tgt = t.target(prefs={"InitialR2T": "No", "FirstBurstLength": "32768"}, mrdsl=4096)
    d = t.daemon(tgt, keys="AuthMethod=None;ImmediateData=No")
    d.start()
    d.write(0, c.pattern(65536))
    cmd = tgt.commands(0x2A, 0x8A)[-1]
    unsol = [p for p in tgt.received(c.OP_DATA_OUT) if p.itt == cmd.itt and p.ttt == c.RSVD]
    t.check(len(unsol) == 8, "%d unsolicited Data-Out PDUs, 8 expected" % len(unsol))
    t.check([p.final for p in unsol] == [False] * 7 + [True], "F bits %s" %
            [int(p.final) for p in unsol])


c.run(main)
