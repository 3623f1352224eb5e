#!/usr/bin/env bash
# Large reads and writes from buffers that are not page aligned (a Python bytes
# object is not): the kernel then cuts the request at other places than 1 MiB,
# so requests cover more blocks than the largest request size. Every byte must
# read back as written, through the file and in the target's backing file.
set -eu
# shellcheck source-path=SCRIPTDIR source=../lib/common.sh
. "${TESTLIB:?TESTLIB must point to tests/lib}/common.sh"
# shellcheck source-path=SCRIPTDIR source=../lib/target.sh
. "$TESTLIB/target.sh"

require_root
require_iscsifs
require_cmd cmp python3 timeout

IQN=iqn.2026-11.org.iscsifs.test:unaligned-buffers
setup_tmpdir
tgt_start
tgt_add_target 1 "$IQN"
tgt_add_lun 1 1 40
tgt_bind 1
BACKING=$(tgt_lun_file 1 1)
iscsifs_config "$(channel_line 0 "$TGT_PORT" "$IQN")"
MNT=$TEST_TMP/mnt
start_iscsifs "$MNT"
LUN=$MNT/$IQN/lun1

cat >"$TEST_TMP/big.py" <<'PYEOF'
import os, random, sys

lun, image = sys.argv[1], sys.argv[2]
rng = random.Random(20261201)
size = 32 << 20
data = bytearray(rng.randbytes(size))
fd = os.open(lun, os.O_RDWR)
# Whole-region writes and reads in one call each, then odd offsets and lengths.
assert os.pwrite(fd, bytes(data), 0) == size, "short write"
got = os.pread(fd, size, 0)
if got != data:
    first = next(i for i in range(min(len(got), size)) if got[i] != data[i]) if len(got) == size else len(got)
    sys.exit("32 MiB read back differs (read %d bytes, first difference at %d)" % (len(got), first))
for off, n in ((1000, 3 * 1024 * 1024 + 7), (4096 * 5 + 3, 5 << 20), (1 << 20, (9 << 20) - 1)):
    chunk = rng.randbytes(n)
    assert os.pwrite(fd, chunk, off) == n, "short write at %d" % off
    data[off:off + n] = chunk
    got = os.pread(fd, n + 8192, off - 512)
    if got != bytes(data[off - 512:off + n + 7680]):
        sys.exit("read around %d+%d differs" % (off, n))
os.fsync(fd)
os.close(fd)
open(image, "wb").write(data)
PYEOF
timeout -k 10 120 python3 "$TEST_TMP/big.py" "$LUN" "$TEST_TMP/expected" || fail "large unaligned I/O through the LUN file"
stop_iscsifs_checked
cmp -n $((32 << 20)) "$TEST_TMP/expected" "$BACKING" || fail "the backing file differs from what was written"
msg "32 MiB and odd-sized unaligned I/O read back and landed as written"
