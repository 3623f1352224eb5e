#!/usr/bin/env python3
"""RFC 7143 4.2.2.2 (Response/Status Numbering) and 11.13.4; UNH-IOL Login Phase #4.2 (StatSN
Non-Zero). StatSN is a 32-bit serial number: a connection whose numbering starts just below
2^32 wraps to 0 with no error, and every ExpStatSN the initiator sends follows it."""
import conformance as c


def main(t):
    tgt = t.target(stat_sn=0xFFFFFFFD)
    d = t.daemon(tgt)
    d.start()
    for i in range(8):
        d.check_read(i * 8192, 8192, t.expect(i * 8192, 8192))
    sns = [p.stat_sn for p in tgt.sent() if p.opcode in (c.OP_SCSI_RSP, c.OP_LOGIN_RSP) or
           (p.opcode == c.OP_DATA_IN and p.status_present)]
    t.check(any(s < 8 for s in sns), "StatSN never wrapped (%s)" % sns[:5])
    last = tgt.received(c.OP_SCSI_CMD)[-1]
    t.check(last.exp_stat_sn < 0x100, "ExpStatSN 0x%08x after the wrap" % last.exp_stat_sn)


c.run(main)
