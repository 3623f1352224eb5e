#!/usr/bin/env bash
# A logical unit another initiator has reserved (tests/lib/fake_target.py --case
# reserved: every WRITE is answered at once with RESERVATION CONFLICT) must
# refuse writes with EBADE, as a Linux SCSI disk does, not EIO: a direct 64 KiB
# write, a 1 MiB one and an unaligned one (read-modify-write) each fail so, each
# WRITE is sent once (a conflict is not retried), the log names it, status
# counts it, reads still work and the target's bytes stay as they were.
set -eu
# shellcheck source-path=SCRIPTDIR source=../lib/common.sh
. "${TESTLIB:?TESTLIB must point to tests/lib}/common.sh"
# shellcheck source-path=SCRIPTDIR source=../lib/fake.sh
. "$TESTLIB/fake.sh"

require_root
require_iscsifs
require_cmd grep python3 timeout
require_isctl

IQN=iqn.2026-11.org.iscsifs.test:reserved
setup_tmpdir
PORT=$(free_port) || hard_error "no free TCP port"
fake_start reserved "$PORT" --iqn "$IQN" --case reserved
iscsifs_config "$(channel_line 0 "$PORT" "$IQN")"
MNT=$TEST_TMP/mnt
start_iscsifs "$MNT"
LUN=$MNT/$IQN/lun0
python3 "$FAKE" --expect 0 $((2 << 20)) >"$TEST_TMP/disk"

conflicts() { grep -c "with RESERVATION CONFLICT" "$FAKE_LOG" || true; }

cat >"$TEST_TMP/write.py" <<'PYEOF'
import errno, mmap, os, sys

lun, disk, step = sys.argv[1], open(sys.argv[2], "rb").read(), sys.argv[3]
MIB = 1 << 20
buf = mmap.mmap(-1, MIB)
buf[:] = os.urandom(MIB)
bad = []

def expect_ebade(what, flags, size, off):
    f = os.open(lun, os.O_RDWR | flags)
    try:
        n = os.pwritev(f, [memoryview(buf)[:size]], off)
        bad.append("%s: wrote %d, want EBADE" % (what, n))
    except OSError as e:
        if e.errno != errno.EBADE:
            bad.append("%s: %s, want EBADE" % (what, errno.errorcode.get(e.errno, str(e.errno))))
    os.close(f)

if step == "first":
    expect_ebade("64 KiB at 0", os.O_DIRECT, 65536, 0)
else:
    expect_ebade("1 MiB at 1 MiB", os.O_DIRECT, MIB, MIB)
    expect_ebade("100 bytes at 10", 0, 100, 10)
    f = os.open(lun, os.O_RDONLY)
    if os.pread(f, 2 * MIB, 0) != disk:
        bad.append("the LUN does not read back the target's bytes")
    os.close(f)
if bad:
    sys.exit("; ".join(bad))
PYEOF

out=$(timeout -k 10 60 python3 "$TEST_TMP/write.py" "$LUN" "$TEST_TMP/disk" first 2>&1) ||
	fail "a 64 KiB write to a reserved LUN: $out"
n=$(conflicts)
[ "$n" = 1 ] || fail "the target answered $n WRITEs with RESERVATION CONFLICT for one 64 KiB write, want 1 (a conflict is not retried)"
grep -q "WRITE of 128 blocks at LBA 0 failed: RESERVATION CONFLICT" "$ISCSIFS_LOG" ||
	fail "the daemon's log does not name the conflicting WRITE"
out=$(timeout -k 10 60 python3 "$TEST_TMP/write.py" "$LUN" "$TEST_TMP/disk" rest 2>&1) ||
	fail "writes to a reserved LUN: $out"
n=$(conflicts)
[ "$n" -ge 3 ] || fail "the target saw $n conflicting WRITEs, want at least 3: the test did not test"
# A retry would ask for the same blocks again: no range may be refused twice.
again=$(grep -o "WRITE lba [0-9]*, [0-9]* blocks .* with RESERVATION CONFLICT" "$FAKE_LOG" |
	sed 's/ (task [^)]*)//' | sort | uniq -d)
[ -z "$again" ] || fail "a conflicting WRITE was sent again: $again"
errors=$(timeout -k 10 60 "$ISCTL" -s "$ISCSIFS_ETC/control.sock" status --json |
	python3 -c 'import json, sys; print(json.load(sys.stdin)["channels"][0]["luns"][0]["scsi_errors"])')
[ "$errors" = "$n" ] || fail "status counts $errors SCSI errors, want $n (one per conflicting WRITE)"
stop_iscsifs_checked
msg "writes to a reserved LUN (64 KiB, 1 MiB, unaligned) each gave EBADE, each WRITE was sent once and logged ($n counted), reads still work"
