#!/usr/bin/env bash
# No acknowledged write is lost across a target crash: a verify workload writes
# to a LUN file while tgtd is killed with SIGKILL and restarted on the same
# backing file within 5 s. The daemon reinstates the session and resends what
# had no status; the workload ends with zero errors (no EIO) and zero verify
# mismatches, and the backing file holds every acknowledged write.
set -eu
# shellcheck source-path=SCRIPTDIR source=../lib/common.sh
. "${TESTLIB:?TESTLIB must point to tests/lib}/common.sh"
# shellcheck source-path=SCRIPTDIR source=../lib/target.sh
. "$TESTLIB/target.sh"

require_root
require_iscsifs
require_cmd cmp dd grep python3 timeout

IQN=iqn.2026-11.org.iscsifs.test:crash
setup_tmpdir
tgt_start
tgt_add_target 1 "$IQN"
tgt_add_lun 1 1 48
tgt_bind 1
BACKING=$(tgt_lun_file 1 1)
CHANNEL_ATTRS="nopout_timeout=1;nopout_response_timeout=2"
iscsifs_config "$(channel_line 0 "$TGT_PORT" "$IQN")"
MNT=$TEST_TMP/mnt
start_iscsifs "$MNT"

STOP=$TEST_TMP/stop
PROGRESS=$TEST_TMP/progress
echo 0 >"$PROGRESS"
timeout -k 10 200 python3 "$TESTLIB/verify_workload.py" "$MNT/$IQN/lun1" "$TEST_TMP/expected" \
	"$STOP" "$PROGRESS" 32 4 >"$TEST_TMP/workload.out" 2>&1 &
WORKLOAD=$!
defer "touch $STOP"
show_on_failure "$TEST_TMP/workload.out"
passes_at_least() { [ "$(cat "$PROGRESS")" -ge "$1" ]; }
wait_for 60 passes_at_least 2 || fail "the workload made no progress"

tgt_crash
sleep 2
tgt_revive
before=$(cat "$PROGRESS")
wait_for 90 passes_at_least $((before + 3)) || fail "the workload did not continue after the target came back"
touch "$STOP"
st=0
wait "$WORKLOAD" || st=$?
cat "$TEST_TMP/workload.out"
[ "$st" -eq 0 ] || fail "the workload saw errors or mismatches (status $st)"
grep -q "session recovered" "$ISCSIFS_LOG" || fail "no session recovery in the log"
stop_iscsifs_checked
cmp -n $((32 << 20)) "$TEST_TMP/expected" "$BACKING" ||
	fail "the backing file lacks acknowledged writes"
msg "no acknowledged write lost across the crash"
