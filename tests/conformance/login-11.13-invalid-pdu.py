#!/usr/bin/env python3
"""RFC 7143 6.3 and 11.13 (only Login Responses answer Login Requests); UNH-IOL Login Phase
#8.1 (Invalid PDU). A target that answers a Login Request with another PDU (a NOP-In) breaks
the login phase: the initiator ends the login with the reason."""
import conformance as c


class Nop(c.Target):
    def login_hook(self, conn, req, keys, rsp):
        if req.csg == 1:
            b = bytearray(48)
            b[0] = c.OP_NOP_IN
            b[1] = 0x80
            b[16:24] = b"\xff" * 8
            conn.send_raw(b)
            rsp.suppress = True


def main(t):
    tgt = t.target(Nop)
    c.expect_login_failure(t, tgt, r"expected a Login Response, got NOP-In")


c.run(main)
