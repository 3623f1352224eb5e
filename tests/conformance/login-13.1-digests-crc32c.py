#!/usr/bin/env python3
"""RFC 7143 13.1 (HeaderDigest and DataDigest) and 11.2.3; UNH-IOL Login Phase #9.1 (Header
and Data Digests Offer), #9.2 and #9.3 (Support CRC32C). With CRC32C negotiated both ways,
every PDU of full feature phase carries digests that the target verifies (a wrong one is a
violation that ends the connection), and data written and read back is intact."""
import conformance as c


def main(t):
    tgt = t.target(digests=True)
    d = t.daemon(tgt, keys="AuthMethod=None;HeaderDigest=CRC32C;DataDigest=CRC32C")
    d.start()
    conn = tgt.conn_of(1)
    t.check(conn.hdr_digest and conn.data_digest, "CRC32C was not negotiated both ways")
    data = c.pattern(32768)
    d.write(8192, data)
    d.check_read(8192, 32768, data)
    t.check(len(tgt.received(c.OP_SCSI_CMD)) >= 3, "too few commands went through")


c.run(main)
