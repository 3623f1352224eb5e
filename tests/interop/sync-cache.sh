#!/usr/bin/env bash
# fsync on a LUN file and the target's SYNCHRONIZE CACHE, against three scripted
# targets (tests/lib/fake_target.py): one that flushes (each fsync reaches it and
# succeeds), one whose SYNCHRONIZE CACHE fails with HARDWARE ERROR 44/00 (fsync
# returns EIO and the log says why: an application must not be told its data is
# safe), and one that has no such command (ILLEGAL REQUEST 20/00: fsync succeeds
# once the writes are acknowledged, as Linux's sd driver does, the log says so
# once, and the command is not sent again).
set -eu
# shellcheck source-path=SCRIPTDIR source=../lib/common.sh
. "${TESTLIB:?TESTLIB must point to tests/lib}/common.sh"
# shellcheck source-path=SCRIPTDIR source=../lib/fake.sh
. "$TESTLIB/fake.sh"

require_root
require_iscsifs
require_cmd grep python3 timeout

setup_tmpdir
cat >"$TEST_TMP/fsync.py" <<'PYEOF'
import mmap, os, sys

# Each round a 4 KiB direct write, then fsync; prints "ok" or the fsync's errno name.
lun, rounds = sys.argv[1], int(sys.argv[2])
fd = os.open(lun, os.O_RDWR | os.O_DIRECT)
buf = mmap.mmap(-1, 4096)
for i in range(rounds):
    buf[:] = bytes([i + 1]) * 4096
    if os.pwritev(fd, [buf], i * 4096) != 4096:
        sys.exit("short write")
    try:
        os.fsync(fd)
        print("ok")
    except OSError as e:
        print(os.strerror(e.errno))
os.close(fd)
PYEOF

# run CASE: a fake target with fake_target.py --case CASE and a daemon on it;
# two rounds of write + fsync, their outcomes in OUT ("ok ok", ...).
run() {
	local iqn=iqn.2026-11.org.iscsifs.test:sync-$1 port
	port=$(free_port) || hard_error "no free TCP port"
	fake_start "$1" "$port" --iqn "$iqn" --case "$1"
	iscsifs_config "$(channel_line 0 "$port" "$iqn")"
	start_iscsifs "$TEST_TMP/mnt-$1"
	OUT=$(timeout -k 10 60 python3 "$TEST_TMP/fsync.py" "$TEST_TMP/mnt-$1/$iqn/lun0" 2 | xargs) ||
		fail "$1: the writes failed"
	stop_iscsifs_checked
}

run none
[ "$OUT" = "ok ok" ] || fail "fsync on a target that flushes: '$OUT', want 'ok ok'"
[ "$(grep -c "SYNCHRONIZE CACHE$" "$FAKE_LOG")" = 2 ] ||
	fail "the target saw $(grep -c "SYNCHRONIZE CACHE" "$FAKE_LOG") SYNCHRONIZE CACHE for 2 fsyncs"
msg "each fsync sent SYNCHRONIZE CACHE and succeeded"

run sync-cache-error
[ "$OUT" = "Input/output error Input/output error" ] ||
	fail "fsync on a target whose SYNCHRONIZE CACHE fails: '$OUT', want EIO twice"
grep -q "SYNCHRONIZE CACHE failed: CHECK CONDITION, HARDWARE ERROR 44/00 (internal target failure)" \
	"$ISCSIFS_LOG" || fail "the failed SYNCHRONIZE CACHE is not in the daemon's log with its sense"
msg "a failing SYNCHRONIZE CACHE made fsync fail with EIO, logged with its sense"

run no-sync-cache
[ "$OUT" = "ok ok" ] || fail "fsync on a target without SYNCHRONIZE CACHE: '$OUT', want 'ok ok'"
[ "$(grep -c "SYNCHRONIZE CACHE (not supported here)" "$FAKE_LOG")" = 1 ] ||
	fail "SYNCHRONIZE CACHE was sent $(grep -c "SYNCHRONIZE CACHE" "$FAKE_LOG") times, want once"
[ "$(grep -c "the target has no SYNCHRONIZE CACHE" "$ISCSIFS_LOG")" = 1 ] ||
	fail "the daemon did not say once that the target has no SYNCHRONIZE CACHE"
msg "a target without SYNCHRONIZE CACHE: fsync succeeded, the command was sent once and the log says so"
