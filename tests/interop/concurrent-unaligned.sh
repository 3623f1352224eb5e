#!/usr/bin/env bash
# Several threads write unaligned byte ranges of one LUN file at the same time.
# The ranges are disjoint but neighbours share 512-byte blocks, so each write is a
# read-modify-write of blocks another writer is changing too; the LUN files take
# parallel direct writes, so the kernel no longer hands them to the daemon one at
# a time and only the daemon's own ordering keeps a writer's bytes from being
# undone by a neighbour's stale copy of the block. Aligned 4 KiB writes into a
# part no unaligned writer touches run beside them. After each round of writes
# the target's backing file holds every range's new bytes (and the LUN file after
# the last round), and no byte outside the ranges has changed.
set -eu
# shellcheck source-path=SCRIPTDIR source=../lib/common.sh
. "${TESTLIB:?TESTLIB must point to tests/lib}/common.sh"
# shellcheck source-path=SCRIPTDIR source=../lib/target.sh
. "$TESTLIB/target.sh"

require_root
require_iscsifs
require_cmd python3 timeout

IQN=iqn.2026-11.org.iscsifs.test:concurrent-unaligned
setup_tmpdir
tgt_start
tgt_add_target 1 "$IQN"
tgt_add_lun 1 1 16
tgt_bind 1
BACKING=$(tgt_lun_file 1 1)
cp "$BACKING" "$TEST_TMP/before"
iscsifs_config "$(channel_line 0 "$TGT_PORT" "$IQN")"
MNT=$TEST_TMP/mnt
start_iscsifs "$MNT"
LUN=$MNT/$IQN/lun1

cat >"$TEST_TMP/writers.py" <<'PYEOF'
import mmap, os, random, sys, threading

lun, backing, before = sys.argv[1:4]
NWRITERS, ROUNDS = 6, 30
REGION = 96 * 1024          # the unaligned writers' part, from 0
ALIGNED = (1 << 20, 64)     # the aligned writer's part: offset, 4 KiB blocks

# Cut the region into ranges of 1 to 1500 bytes, dealt out to the writers in turn:
# neighbouring ranges belong to different writers and mostly share a block.
rng = random.Random(20261201)
ranges, off = [], 0
while off < REGION:
    n = min(rng.randint(1, 1500), REGION - off)
    ranges.append((off, n))
    off += n
mine = [ranges[i::NWRITERS] for i in range(NWRITERS)]

# Every round each writer writes each of its ranges once, in its own order, then
# all wait while the target's file is checked: an update lost to a neighbour's
# stale block would be found in the round it happened.
expect = bytearray(open(before, "rb").read())
lock = threading.Lock()
barrier = threading.Barrier(NWRITERS + 2)
errors = []

def unaligned(idx):
    r = random.Random(idx)
    fd = os.open(lun, os.O_WRONLY)
    try:
        for _ in range(ROUNDS):
            order = list(mine[idx])
            r.shuffle(order)
            for off, n in order:
                data = r.randbytes(n)
                if os.pwrite(fd, data, off) != n:
                    raise OSError("short write at %d" % off)
                with lock:
                    expect[off:off + n] = data
            barrier.wait()
            barrier.wait()
    except Exception as e:
        errors.append("writer %d: %s" % (idx, e))
        barrier.abort()
    finally:
        os.close(fd)

def aligned():
    r = random.Random(99)
    base, nblocks = ALIGNED
    buf = mmap.mmap(-1, 4096)
    fd = os.open(lun, os.O_WRONLY | os.O_DIRECT)
    try:
        for _ in range(ROUNDS):
            for _ in range(8):
                off = base + r.randrange(nblocks) * 4096
                data = r.randbytes(4096)
                buf[:] = data
                if os.pwritev(fd, [buf], off) != 4096:
                    raise OSError("short write at %d" % off)
                with lock:
                    expect[off:off + 4096] = data
            barrier.wait()
            barrier.wait()
    except Exception as e:
        errors.append("aligned writer: %s" % e)
        barrier.abort()
    finally:
        os.close(fd)

def check(got, what, rnd):
    if got != expect:
        bad = next(i for i in range(len(expect)) if got[i] != expect[i])
        sys.exit("round %d: %s differs from what the writers wrote, first at byte %d "
                 "(in the unaligned part: %s)" % (rnd, what, bad, bad < REGION))

threads = [threading.Thread(target=unaligned, args=(i,)) for i in range(NWRITERS)]
threads.append(threading.Thread(target=aligned))
for t in threads:
    t.start()
try:
    for rnd in range(1, ROUNDS + 1):
        barrier.wait()
        check(open(backing, "rb").read(), "the target's backing file", rnd)
        barrier.wait()
except threading.BrokenBarrierError:
    pass  # a writer failed: its error is in errors
except SystemExit:
    barrier.abort()
    for t in threads:
        t.join()
    raise
for t in threads:
    t.join()
if errors:
    sys.exit("; ".join(errors[:4]))
fd = os.open(lun, os.O_RDONLY)
got = b"".join(os.pread(fd, 1 << 20, o) for o in range(0, len(expect), 1 << 20))
os.close(fd)
check(got, "the LUN file read back", ROUNDS)
print("%d ranges of 1-1500 bytes in %d KiB, written by %d threads at once in each of %d rounds, "
      "8 aligned 4 KiB writes beside in each" % (len(ranges), REGION // 1024, NWRITERS, ROUNDS))
PYEOF
out=$(timeout -k 10 300 python3 "$TEST_TMP/writers.py" "$LUN" "$BACKING" "$TEST_TMP/before" 2>&1) ||
	fail "concurrent unaligned writers: ${out:-killed after 300 s}"
stop_iscsifs_checked
msg "concurrent unaligned writes kept every writer's bytes: $out"
