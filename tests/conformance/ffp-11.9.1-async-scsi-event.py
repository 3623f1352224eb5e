#!/usr/bin/env python3
"""RFC 7143 11.9.1 (AsyncEvent 0: a SCSI asynchronous event, its sense data in the data
segment) and SPC-4 (unit attention 3F/0E, REPORTED LUNS DATA HAS CHANGED). When the target
adds a LUN and says so, the initiator asks REPORT LUNS again and the new LUN's file
appears."""
import os
import struct
import conformance as c


def main(t):
    tgt = t.target()
    d = t.daemon(tgt)
    d.start()
    before = len(tgt.commands(0xA0))
    tgt.disks[1] = c.initial_content(4 << 20, 1)
    sense = c.sense_fixed(c.UNIT_ATTENTION, 0x3F, 0x0E)
    tgt.current().send_async(0, data=struct.pack(">H", len(sense)) + sense)
    t.wait(lambda: len(tgt.commands(0xA0)) > before, 10, "no REPORT LUNS after the event")
    t.wait(lambda: os.path.exists(d.lun_path(1)), 10, "no file for the new LUN")
    d.check_read(0, 4096, t.expect(0, 4096, lun=1), lun=1)


c.run(main)
