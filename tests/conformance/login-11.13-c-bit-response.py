#!/usr/bin/env python3
"""RFC 7143 11.13 (C bit) and 6.2 (text that spans PDUs). The target sends its last
operational answers in two Login Responses, the first with the C bit and T clear, cut in the
middle of a key; the initiator answers the first with an empty Login Request (checked by the
scripted target) and takes the key whole: MaxRecvDataSegmentLength=4096 bounds its Data-Out."""
import conformance as c


class Split(c.Target):
    def login_hook(self, conn, req, keys, rsp):
        payload = c.text_bytes(rsp.keys)
        i = payload.find(b"MaxRecvDataSegmentLength")
        if req.csg == 1 and i >= 0:
            rsp.split = i + 10


def main(t):
    tgt = t.target(Split, mrdsl=4096)
    d = t.daemon(tgt)
    d.start()
    cont = [p for p in tgt.sent(c.OP_LOGIN_RSP) if p.cont]
    t.check(len(cont) == 1, "%d Login Responses with the C bit" % len(cont))
    data = c.pattern(65536)
    d.write(0, data)
    big = [p.dsl for p in tgt.received(c.OP_DATA_OUT) + tgt.commands(0x2A) if p.dsl > 4096]
    t.check(not big, "data segments of %s bytes with MaxRecvDataSegmentLength=4096" % big[:3])
    d.check_read(0, 65536, data)


c.run(main)
