#!/usr/bin/env python3
"""RFC 7143 11.19 (NOP-In with TTT 0xffffffff: no answer is wanted) and 4.2.2.1; UNH-IOL Full
Feature Phase #15.3. A NOP-In with both tags reserved, which only updates the window, gets
no NOP-Out in reply, and the connection goes on."""
import time
import conformance as c


def main(t):
    tgt = t.target()
    d = t.daemon(tgt)
    d.start()
    tgt.current().send_nop_in(data=b"")
    time.sleep(1)
    t.check(not tgt.received(c.OP_NOP_OUT), "a NOP-Out answered a NOP-In that wanted none")
    d.check_read(0, 4096, t.expect(0, 4096))
    t.check(len(tgt.conns) == 1, "the connection was replaced")


c.run(main)
