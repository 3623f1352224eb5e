#!/usr/bin/env bash
# Writes the logical unit fails (tests/lib/fake_target.py --case write-error:
# every WRITE touching the second MiB gets CHECK CONDITION, MEDIUM ERROR 0c/00)
# must fail in the application, whichever way the daemon carries them: a 64 KiB
# direct write (answered from its completion), a 1 MiB one (waited for in its
# FUSE thread) and an unaligned one (read-modify-write) each get EIO, the log
# names the WRITE, its LBA and the sense, and status counts them; writes
# outside the region succeed and read back, and the region keeps its bytes.
set -eu
# shellcheck source-path=SCRIPTDIR source=../lib/common.sh
. "${TESTLIB:?TESTLIB must point to tests/lib}/common.sh"
# shellcheck source-path=SCRIPTDIR source=../lib/fake.sh
. "$TESTLIB/fake.sh"

require_root
require_iscsifs
require_cmd grep python3 timeout
require_isctl

IQN=iqn.2026-11.org.iscsifs.test:write-error
setup_tmpdir
PORT=$(free_port) || hard_error "no free TCP port"
fake_start writes "$PORT" --iqn "$IQN" --case write-error
iscsifs_config "$(channel_line 0 "$PORT" "$IQN")"
MNT=$TEST_TMP/mnt
start_iscsifs "$MNT"
LUN=$MNT/$IQN/lun0
python3 "$FAKE" --expect $((1 << 20)) $((1 << 20)) >"$TEST_TMP/region"

out=$(timeout -k 10 120 python3 - "$LUN" "$TEST_TMP/region" <<'PYEOF' 2>&1
import errno, mmap, os, sys

lun, region = sys.argv[1], open(sys.argv[2], "rb").read()
MIB = 1 << 20
buf = mmap.mmap(-1, MIB)
buf[:] = os.urandom(MIB)
fd = os.open(lun, os.O_RDWR | os.O_DIRECT)
bad = []

def expect(what, size, off, ok):
    try:
        n = os.pwritev(fd, [memoryview(buf)[:size]], off)
        got = "wrote %d" % n
    except OSError as e:
        got = errno.errorcode.get(e.errno, str(e.errno))
    want = "wrote %d" % size if ok else "EIO"
    if got != want:
        bad.append("%s: %s, want %s" % (what, got, want))

expect("64 KiB at 0", 65536, 0, True)
expect("64 KiB at 1 MiB", 65536, MIB, False)
expect("1 MiB at 1 MiB", MIB, MIB, False)
expect("4 KiB at 2 MiB", 4096, 2 * MIB, True)
plain = os.open(lun, os.O_RDWR)
try:
    os.pwrite(plain, b"x" * 100, MIB + 10)
    bad.append("100 bytes at 1 MiB + 10: written, want EIO")
except OSError as e:
    if e.errno != errno.EIO:
        bad.append("100 bytes at 1 MiB + 10: %s, want EIO" % errno.errorcode.get(e.errno))
if os.pread(plain, 65536, 0) != buf[:65536]:
    bad.append("the 64 KiB written at 0 do not read back")
if os.pread(plain, 4096, 2 * MIB) != buf[:4096]:
    bad.append("the 4 KiB written at 2 MiB do not read back")
if os.pread(plain, MIB, MIB) != region:
    bad.append("the second MiB changed although every write to it failed")
os.close(plain)
os.close(fd)
if bad:
    sys.exit("; ".join(bad))
PYEOF
) || fail "write errors: $out"
grep -q "answering WRITE lba 2048" "$FAKE_LOG" || fail "the target failed no WRITE: the test did not test"
grep -q "WRITE of 128 blocks at LBA 2048 failed: CHECK CONDITION, MEDIUM ERROR 0c/00 (write error)" \
	"$ISCSIFS_LOG" || fail "the daemon's log does not name the failed 64 KiB WRITE and its sense"
errors=$(timeout -k 10 60 "$ISCTL" -s "$ISCSIFS_ETC/control.sock" status --json |
	python3 -c 'import json, sys; print(json.load(sys.stdin)["channels"][0]["luns"][0]["scsi_errors"])')
[ "$errors" -ge 3 ] || fail "status counts $errors SCSI errors, want at least 3 (one per failed write)"
stop_iscsifs_checked
msg "failed WRITEs (64 KiB async, 1 MiB sync, unaligned RMW) each gave EIO, were logged ($errors counted), and changed nothing; writes beside them read back"
