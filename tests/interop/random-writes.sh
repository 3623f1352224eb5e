#!/usr/bin/env bash
# Writes at pseudo-random (seeded) offsets through the LUN file, unaligned,
# across 512-byte boundaries, tiny and over 1 MiB, at both ends of the LUN,
# some overlapping; then checks every region in the target's backing file and
# through the LUN file again, and that nothing else in the backing file changed.
set -eu
# shellcheck source-path=SCRIPTDIR source=../lib/common.sh
. "${TESTLIB:?TESTLIB must point to tests/lib}/common.sh"
# shellcheck source-path=SCRIPTDIR source=../lib/target.sh
. "$TESTLIB/target.sh"

require_root
require_iscsifs
require_cmd cmp timeout sync

SEED=${RANDOM_WRITES_SEED:-20261119}
IQN=iqn.2026-11.org.iscsifs.test:writes
setup_tmpdir
tgt_start
tgt_add_target 1 "$IQN"
tgt_add_lun 1 1 64
tgt_bind 1
BACKING=$TGT_LUN_FILE

iscsifs_config "$(channel_line 0 "$TGT_PORT" "$IQN")"
MNT=$TEST_TMP/mnt
start_iscsifs "$MNT"
LUN=$MNT/$IQN/lun1
timeout -k 10 30 test -f "$LUN" || fail "$LUN does not exist"

# The expected image: the backing file as it is now, with the same writes applied.
cp "$BACKING" "$TEST_TMP/expected.img"

cat >"$TEST_TMP/rw.py" <<'EOF'
import os, random, sys

def plan(seed, size):
    """Returns [(offset, data)], the same list for the same seed and size."""
    rng = random.Random(seed)
    def data(n):
        return rng.randbytes(n)
    w = [
        (0, data(512)),                       # first block, aligned
        (511, data(2)),                       # two bytes across a block boundary
        (1000, data(3)),                      # a few bytes inside a block
        (4095, data(4099)),                   # unaligned start and length, 3 boundaries
        (size - 7, data(7)),                  # the last bytes of the LUN
        (size - 4096 - 13, data(4096)),       # unaligned, near the end
        (3 * 1048576 + 333, data(1048576 + 4321)),  # more than 1 MiB, unaligned
        (8 * 1048576 - 100, data(200)),       # across a MiB boundary
        (8 * 1048576 - 50, data(100)),        # overlaps the previous write
    ]
    for _ in range(60):
        n = rng.choice([1, 2, 5, 511, 512, 513, 1000, 4096, 65537]) if rng.random() < 0.5 \
            else rng.randint(1, 300000)
        off = rng.randint(0, size - n)
        w.append((off, data(n)))
    return w

def pwrite_all(fd, buf, off):
    view = memoryview(buf)
    while view:
        n = os.pwrite(fd, view, off)
        if n <= 0:
            raise OSError("pwrite returned %d at offset %d" % (n, off))
        view, off = view[n:], off + n

def pread_all(fd, n, off):
    out = bytearray()
    while len(out) < n:
        b = os.pread(fd, n - len(out), off + len(out))
        if not b:
            raise OSError("short read at offset %d" % (off + len(out)))
        out += b
    return bytes(out)

def main():
    mode, seed, lun, expected = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    size = os.path.getsize(expected)
    writes = plan(seed, size)
    if mode == "write":
        fd = os.open(lun, os.O_RDWR)
        efd = os.open(expected, os.O_RDWR)
        for off, buf in writes:
            pwrite_all(fd, buf, off)
            pwrite_all(efd, buf, off)
        os.fsync(fd)
        os.close(fd)
        os.close(efd)
        print("wrote %d regions, %d bytes, seed %d"
              % (len(writes), sum(len(b) for _, b in writes), seed))
        return 0
    # mode "check": file to check is argv[5]
    target = sys.argv[5]
    fd = os.open(target, os.O_RDONLY)
    efd = os.open(expected, os.O_RDONLY)
    bad = 0
    for i, (off, buf) in enumerate(writes):
        want = pread_all(efd, len(buf), off)
        got = pread_all(fd, len(buf), off)
        if got != want:
            first = next(j for j in range(len(buf)) if got[j] != want[j])
            print("%s: region %d (offset %d, length %d) differs first at offset %d"
                  % (target, i, off, len(buf), off + first))
            bad += 1
    os.close(fd)
    os.close(efd)
    print("%s: %d of %d regions match" % (target, len(writes) - bad, len(writes)))
    return 1 if bad else 0

sys.exit(main())
EOF

msg "writing through $LUN (seed $SEED)"
timeout -k 10 300 python3 "$TEST_TMP/rw.py" write "$SEED" "$LUN" "$TEST_TMP/expected.img" ||
	fail "writing through the LUN file failed"
timeout -k 10 120 sync || fail "sync did not finish"
drop_caches

timeout -k 10 120 python3 "$TEST_TMP/rw.py" check "$SEED" "$LUN" "$TEST_TMP/expected.img" "$BACKING" ||
	fail "the target's backing file does not hold the written data"
timeout -k 10 120 python3 "$TEST_TMP/rw.py" check "$SEED" "$LUN" "$TEST_TMP/expected.img" "$LUN" ||
	fail "reading back through the LUN file does not return the written data"
timeout -k 10 120 cmp "$BACKING" "$TEST_TMP/expected.img" ||
	fail "the backing file differs from the expected image outside the written regions"
timeout -k 10 120 cmp "$LUN" "$BACKING" || fail "the LUN file differs from the backing file"
msg "all regions match in the backing file and through the LUN file"

stop_iscsifs_checked
