#!/usr/bin/env python3
"""Write-and-verify workload for the recovery tests.

  verify_workload.py LUN EXPECTED_OUT STOP_FILE PROGRESS_FILE [REGION_MIB] [THREADS]

THREADS writers (default 4) each own a slice of the first REGION_MIB MiB
(default 32) of LUN and rewrite it pass after pass in 256 KiB chunks whose
content depends on (pass, chunk). A write that returns is acknowledged; any
error (EIO) is counted, never retried. After each pass a writer fsyncs and
bumps its count in PROGRESS_FILE. When STOP_FILE appears (or after 150 passes,
WORKLOAD_MAX_PASSES in the environment, or 150 s) the writers finish their pass, everything is read back and compared
with what was acknowledged, and EXPECTED_OUT gets the acknowledged image, to be
compared with the target's backing file. Prints one summary line. Exit 0 only
with zero errors and zero mismatches.
"""

import hashlib
import os
import sys
import threading
import time

CHUNK = 256 * 1024
MAX_PASSES = int(os.environ.get("WORKLOAD_MAX_PASSES", "150"))
MAX_SECONDS = 150


def content(pass_no, chunk_no):
    seed = hashlib.sha256(b"%d:%d" % (pass_no, chunk_no)).digest()
    return (seed * (CHUNK // len(seed) + 1))[:CHUNK]


def main(argv):
    if len(argv) < 5:
        print(__doc__, file=sys.stderr)
        return 2
    lun, expected_out, stop_file, progress_file = argv[1:5]
    region = (int(argv[5]) if len(argv) > 5 else 32) << 20
    nthreads = int(argv[6]) if len(argv) > 6 else 4
    nchunks = region // CHUNK
    per = nchunks // nthreads
    fd = os.open(lun, os.O_RDWR)
    acked = [None] * nchunks        # pass number whose content was acknowledged
    errors = []
    passes = [0] * nthreads
    lock = threading.Lock()
    start = time.monotonic()

    def writer(t):
        first, last = t * per, (t + 1) * per
        p = 0
        while p < MAX_PASSES and time.monotonic() - start < MAX_SECONDS:
            p += 1
            for c in range(first, last):
                try:
                    if os.pwrite(fd, content(p, c), c * CHUNK) != CHUNK:
                        raise OSError(0, "short write")
                    acked[c] = p
                except OSError as e:
                    with lock:
                        errors.append("write chunk %d pass %d: %s" % (c, p, e))
            try:
                os.fsync(fd)
            except OSError as e:
                with lock:
                    errors.append("fsync: %s" % e)
            with lock:
                passes[t] = p
                with open(progress_file + ".tmp", "w") as f:
                    f.write("%d\n" % min(passes))
                os.replace(progress_file + ".tmp", progress_file)
            if os.path.exists(stop_file):
                break

    threads = [threading.Thread(target=writer, args=(t,)) for t in range(nthreads)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    mismatches = 0
    image = bytearray(region)
    base = os.pread(fd, region, 0) if region <= (64 << 20) else None
    for c in range(per * nthreads):
        if acked[c] is None:
            continue
        want = content(acked[c], c)
        image[c * CHUNK:(c + 1) * CHUNK] = want
        try:
            got = base[c * CHUNK:(c + 1) * CHUNK] if base is not None else os.pread(fd, CHUNK, c * CHUNK)
        except OSError as e:
            errors.append("read chunk %d: %s" % (c, e))
            continue
        if got != want:
            mismatches += 1
    os.close(fd)
    with open(expected_out, "wb") as f:
        f.write(image)
    print("verify_workload: passes %d, errors %d, mismatches %d, %.1f s"
          % (min(passes), len(errors), mismatches, time.monotonic() - start))
    for e in errors[:10]:
        print("verify_workload: " + e)
    return 0 if not errors and not mismatches else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
