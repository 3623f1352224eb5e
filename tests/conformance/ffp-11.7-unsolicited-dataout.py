#!/usr/bin/env python3
"""RFC 7143 11.7 (SCSI Data-Out) and 13.10 (InitialR2T=No); UNH-IOL Full Feature Phase #8.3
(Unsolicited Data Transmission) and #16.2.3. Without immediate data, a write's first
FirstBurstLength bytes go as unsolicited Data-Out (TTT 0xffffffff, DataSN from 0, offsets
from 0), and the WRITE itself has no data and the F bit clear."""
import conformance as c


def main(t):
    tgt = t.target(prefs={"InitialR2T": "No", "FirstBurstLength": "16384"})
    d = t.daemon(tgt, keys="AuthMethod=None;ImmediateData=No")
    d.start()
    data = c.pattern(65536)
    d.write(0, data)
    cmd = tgt.commands(0x2A, 0x8A)[-1]
    t.check(cmd.dsl == 0 and not cmd.final, "WRITE with %d bytes of data, F bit %s" %
            (cmd.dsl, cmd.final))
    unsol = [p for p in tgt.received(c.OP_DATA_OUT) if p.itt == cmd.itt and p.ttt == c.RSVD]
    t.check([p.data_sn for p in unsol] == [0, 1], "DataSNs %s" % [p.data_sn for p in unsol])
    t.check([p.buffer_offset for p in unsol] == [0, 8192], "offsets %s" %
            [p.buffer_offset for p in unsol])
    t.check(sum(p.dsl for p in unsol) == 16384, "not FirstBurstLength bytes of unsolicited data")
    d.check_read(0, 65536, data)


c.run(main)
