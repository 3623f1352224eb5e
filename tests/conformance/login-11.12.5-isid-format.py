#!/usr/bin/env python3
"""RFC 7143 11.12.5 (ISID): the T field names the format (00 OUI, 01 EN, 10 random; 11 is
reserved) and, for the random format, the A field is reserved (0). Every connection of the
session carries the same ISID."""
import conformance as c


def main(t):
    tgt = t.target(max_connections=2)
    d = t.daemon(tgt, conns=2)
    d.start()
    t.wait(lambda: len({p.conn for p in tgt.logins()}) >= 2, 10, "no second connection")
    isids = {p.isid for p in tgt.logins()}
    t.check(len(isids) == 1, "%d ISIDs in one session" % len(isids))
    isid = isids.pop()
    kind = isid[0] >> 6
    t.check(kind != 3, "ISID %s of the reserved type 11b" % isid.hex())
    if kind == 2:
        t.check(isid[0] & 0x3F == 0, "random-format ISID %s with a non-zero A field" % isid.hex())


c.run(main)
