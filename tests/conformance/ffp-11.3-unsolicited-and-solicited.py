#!/usr/bin/env python3
"""RFC 7143 11.3 (SCSI Command: immediate data), 11.7 and 13.14 (FirstBurstLength); UNH-IOL
Full Feature Phase #8.1 (Unsolicited and Solicited Data Transmission). With ImmediateData=Yes,
InitialR2T=No and FirstBurstLength 16384, a 64 KiB write carries immediate data, then
unsolicited Data-Out up to exactly FirstBurstLength, and the rest only for R2Ts."""
import conformance as c


def main(t):
    tgt = t.target(prefs={"InitialR2T": "No", "FirstBurstLength": "16384"}, mrdsl=8192)
    d = t.daemon(tgt)
    d.start()
    data = c.pattern(65536)
    d.write(0, data)
    cmd = tgt.commands(0x2A, 0x8A)[-1]
    unsol = [p for p in tgt.received(c.OP_DATA_OUT) if p.itt == cmd.itt and p.ttt == c.RSVD]
    total = cmd.dsl + sum(p.dsl for p in unsol)
    t.check(cmd.dsl == 8192, "%d bytes of immediate data, 8192 expected" % cmd.dsl)
    t.check(total == 16384, "%d bytes of unsolicited data, FirstBurstLength is 16384" % total)
    solicited = sum(p.dsl for p in tgt.received(c.OP_DATA_OUT)
                    if p.itt == cmd.itt and p.ttt != c.RSVD)
    t.check(solicited == 65536 - 16384, "%d bytes sent for R2Ts" % solicited)
    d.check_read(0, 65536, data)


c.run(main)
