#!/usr/bin/env python3
"""RFC 7143 11.12.8 (CmdSN in the Login Request) and 4.2.2.1. Every Login Request of the
leading login carries the session's initial CmdSN (login requests are immediate and do not
consume it), and the first command of full feature phase carries that same CmdSN, the
ExpCmdSN of the final Login Response."""
import conformance as c


def main(t):
    tgt = t.target(delay_transit=1)
    d = t.daemon(tgt)
    d.start()
    sns = {p.cmd_sn for p in tgt.logins()}
    t.check(len(sns) == 1, "Login Requests with CmdSNs %s" % sorted(sns))
    final = tgt.sent(c.OP_LOGIN_RSP)[-1]
    first = tgt.received(c.OP_SCSI_CMD)[0]
    t.check(first.cmd_sn == final.exp_cmd_sn == sns.pop(), "first command CmdSN 0x%08x, "
            "login ExpCmdSN 0x%08x" % (first.cmd_sn, final.exp_cmd_sn))


c.run(main)
