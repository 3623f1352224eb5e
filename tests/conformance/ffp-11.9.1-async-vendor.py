#!/usr/bin/env python3
"""RFC 7143 11.9.1 (AsyncEvent 255: vendor specific). An event the initiator has no use for
is ignored: no logout, no new connection, and I/O goes on."""
import time
import conformance as c


def main(t):
    tgt = t.target()
    d = t.daemon(tgt)
    d.start()
    tgt.current().send_async(255, data=b"\0\0vendor-specific")   # SenseLength 0 (11.9.4)
    time.sleep(1)
    d.check_read(0, 4096, t.expect(0, 4096))
    t.check(not tgt.received(c.OP_LOGOUT_REQ) and len(tgt.conns) == 1,
            "the vendor-specific event cost a logout or the connection")


c.run(main)
