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

start_workload "$MNT/$IQN/lun1" 32 4

tgt_crash
sleep 2
tgt_revive
wait_more_passes 3
finish_workload
grep -q "session recovered" "$ISCSIFS_LOG" || fail "no session recovery in the log"
stop_iscsifs_checked
cmp -n $((32 << 20)) "$TEST_TMP/expected" "$BACKING" ||
	fail "the backing file lacks acknowledged writes"
msg "no acknowledged write lost across the crash"
