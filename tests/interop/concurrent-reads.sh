#!/usr/bin/env bash
# Many large direct reads in flight at once, from 4 KiB to 4 MiB: one PDU, several
# PDUs of one command (1 MiB at a MaxRecvDataSegmentLength of 256 KiB) and
# several commands (4 MiB). Every byte of every read must equal the target's
# backing file.
set -eu
# shellcheck source-path=SCRIPTDIR source=../lib/common.sh
. "${TESTLIB:?TESTLIB must point to tests/lib}/common.sh"
# shellcheck source-path=SCRIPTDIR source=../lib/target.sh
. "$TESTLIB/target.sh"

require_root
require_iscsifs
require_cmd python3 timeout dd

IQN=iqn.2026-11.org.iscsifs.test:concurrent-reads
setup_tmpdir
tgt_start
tgt_add_target 1 "$IQN"
tgt_add_lun 1 1 64
tgt_bind 1
BACKING=$(tgt_lun_file 1 1)
iscsifs_config "$(channel_line 0 "$TGT_PORT" "$IQN")"
MNT=$TEST_TMP/mnt
start_iscsifs "$MNT"
LUN=$MNT/$IQN/lun1

cat >"$TEST_TMP/reads.py" <<'PYEOF'
import mmap, os, random, sys, threading

lun, backing = sys.argv[1], sys.argv[2]
ref = open(backing, "rb").read()
size = len(ref)
# 256 KiB is one PDU (MaxRecvDataSegmentLength); 1 MiB comes in four PDUs and 4 MiB
# in several commands.
sizes = [4096, 32768, 65536, 131072, 262144, 1 << 20, 4 << 20]
errors = []

def reader(seed):
    rng = random.Random(seed)
    fd = os.open(lun, os.O_RDONLY | os.O_DIRECT)
    buf = mmap.mmap(-1, max(sizes))  # page aligned, as O_DIRECT wants
    try:
        for _ in range(150):
            n = rng.choice(sizes)
            off = rng.randrange(0, (size - n) // 4096 + 1) * 4096
            got = os.preadv(fd, [memoryview(buf)[:n]], off)
            if got != n or buf[:n] != ref[off:off + n]:
                errors.append("%d bytes at %d: read %d, %s" % (
                    n, off, got, "same" if buf[:got] == ref[off:off + got] else "differ"))
                return
    finally:
        os.close(fd)

threads = [threading.Thread(target=reader, args=(s,)) for s in range(8)]
for t in threads:
    t.start()
for t in threads:
    t.join()
if errors:
    sys.exit("; ".join(errors[:4]))
PYEOF
timeout -k 10 300 python3 "$TEST_TMP/reads.py" "$LUN" "$BACKING" ||
	fail "concurrent direct reads returned other bytes than the target holds"
stop_iscsifs_checked
msg "8 readers x 150 direct reads of 4 KiB to 4 MiB read back the target's bytes"
