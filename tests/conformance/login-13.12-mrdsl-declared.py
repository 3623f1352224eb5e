#!/usr/bin/env python3
"""RFC 7143 13.12 (MaxRecvDataSegmentLength, declarative); UNH-IOL Login Phase #14.1. The
initiator declares in the operational stage the largest data segment it takes, a value from
512 to 2^24-1, and accepts Data-In segments of exactly that size."""
import conformance as c


def main(t):
    tgt = t.target()
    # A Data-In as large as the declared length needs a READ at least that large: FUSE over
    # io_uring asks for 128 KiB at most, the classic device for up to 1 MiB.
    d = t.daemon(tgt, args=["--fuse-io=classic"])
    d.start()
    decl = [p.key("MaxRecvDataSegmentLength") for p in tgt.logins()
            if p.key("MaxRecvDataSegmentLength")]
    t.check(len(decl) == 1, "MaxRecvDataSegmentLength declared %d times" % len(decl))
    n = int(decl[0], 0)
    t.check(512 <= n <= (1 << 24) - 1, "MaxRecvDataSegmentLength=%d is out of range" % n)
    size = min(4 * n, 1 << 20)
    d.check_read(0, size, t.expect(0, size))
    biggest = max(p.dsl for p in tgt.sent(c.OP_DATA_IN))
    t.check(biggest == n, "the largest Data-In was %d bytes, not the declared %d" % (biggest, n))


c.run(main)
