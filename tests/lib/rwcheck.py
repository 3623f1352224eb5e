#!/usr/bin/env python3
"""Seeded write-and-verify for a LUN file, shared by the random-writes tests.

  rwcheck.py write SEED LUN EXPECTED    apply the writes to LUN (then fsync)
                                        and to EXPECTED, a copy of the LUN's
                                        original content
  rwcheck.py check SEED EXPECTED FILE...
                                        compare every written region of each
                                        FILE with EXPECTED

The same SEED and size always give the same writes: unaligned, across 512-byte
and MiB boundaries, from 1 byte to over 1 MiB, at both ends of the LUN, some
overlapping. Exit status: 0 all good, 1 a region differs, 2 usage or I/O error.
"""

import os
import random
import sys

MIB = 1 << 20
MIN_SIZE = 4 * MIB


def plan(seed, size):
    """[(offset, bytes)] for a LUN of SIZE bytes, in the order to write them."""
    if size < MIN_SIZE:
        raise ValueError("LUN of %d bytes is too small (need %d)" % (size, MIN_SIZE))
    rng = random.Random(seed)
    mib_mark = (size // 2) // MIB * MIB
    fixed = [
        (0, 512),                        # the first block, aligned
        (511, 2),                        # two bytes straddling a block boundary
        (1000, 3),                       # a few bytes inside one block
        (4095, 4099),                    # odd start and length over three boundaries
        (size - 4096 - 13, 4096),        # a block's worth, unaligned, near the end
        (size - 7, 7),                   # the last bytes of the LUN
        (size // 4 + 333, MIB + 4321),   # more than 1 MiB in one write
        (mib_mark - 100, 200),           # across a MiB boundary
        (mib_mark - 50, 100),            # inside the previous write
    ]
    writes = [(off, rng.randbytes(n)) for off, n in fixed]
    small = [1, 2, 5, 511, 512, 513, 1000, 4096, 65537]
    for _ in range(60):
        n = rng.choice(small) if rng.random() < 0.5 else rng.randint(1, 300000)
        writes.append((rng.randint(0, size - n), rng.randbytes(n)))
    return writes


def write_at(fd, data, off):
    view = memoryview(data)
    while view:
        n = os.pwrite(fd, view, off)
        if n <= 0:
            raise OSError("pwrite wrote nothing at offset %d" % off)
        view = view[n:]
        off += n


def read_at(fd, length, off):
    out = bytearray()
    while len(out) < length:
        chunk = os.pread(fd, length - len(out), off + len(out))
        if not chunk:
            raise OSError("end of file at offset %d" % (off + len(out)))
        out += chunk
    return bytes(out)


def do_write(seed, lun, expected):
    writes = plan(seed, os.path.getsize(expected))
    fd = os.open(lun, os.O_RDWR)
    efd = os.open(expected, os.O_RDWR)
    try:
        for off, data in writes:
            write_at(fd, data, off)
            write_at(efd, data, off)
        os.fsync(fd)
    finally:
        os.close(fd)
        os.close(efd)
    print("%s: wrote %d regions, %d bytes (seed %d)"
          % (lun, len(writes), sum(len(d) for _, d in writes), seed))
    return 0


def check_one(writes, expected, path):
    bad = 0
    efd = os.open(expected, os.O_RDONLY)
    fd = os.open(path, os.O_RDONLY)
    try:
        for i, (off, data) in enumerate(writes):
            want = read_at(efd, len(data), off)
            got = read_at(fd, len(data), off)
            if got == want:
                continue
            first = next(j for j in range(len(data)) if got[j] != want[j])
            print("%s: region %d (offset %d, %d bytes) differs, first at offset %d"
                  % (path, i, off, len(data), off + first))
            bad += 1
    finally:
        os.close(fd)
        os.close(efd)
    print("%s: %d of %d regions match" % (path, len(writes) - bad, len(writes)))
    return bad


def do_check(seed, expected, paths):
    writes = plan(seed, os.path.getsize(expected))
    bad = 0
    for path in paths:
        bad += check_one(writes, expected, path)
    return 1 if bad else 0


def main(argv):
    try:
        if len(argv) == 5 and argv[1] == "write":
            return do_write(int(argv[2]), argv[3], argv[4])
        if len(argv) >= 5 and argv[1] == "check":
            return do_check(int(argv[2]), argv[3], argv[4:])
    except (OSError, ValueError) as e:
        print("rwcheck: %s" % e, file=sys.stderr)
        return 2
    print(__doc__.strip(), file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
