#!/usr/bin/env bash
# A command the target never answers is aborted after command_timeout (ABORT
# TASK), the abort escalates to LOGICAL UNIT RESET, and when that goes
# unanswered too the connection is dropped: the application gets EIO in
# bounded time, never a hang. NOP-Out pings are off so that only the command
# timeout can notice the silent target (tgtd stopped with SIGSTOP).
set -eu
# shellcheck source-path=SCRIPTDIR source=../lib/common.sh
. "${TESTLIB:?TESTLIB must point to tests/lib}/common.sh"
# shellcheck source-path=SCRIPTDIR source=../lib/target.sh
. "$TESTLIB/target.sh"

require_root
require_iscsifs
require_cmd dd grep timeout

IQN=iqn.2026-11.org.iscsifs.test:timeout
setup_tmpdir
tgt_start
tgt_add_target 1 "$IQN"
tgt_add_lun 1 1 8
tgt_bind 1
CHANNEL_ATTRS="nopout_timeout=0;command_timeout=2"
iscsifs_config "$(channel_line 0 "$TGT_PORT" "$IQN")"
MNT=$TEST_TMP/mnt
start_iscsifs "$MNT"
LUN=$MNT/$IQN/lun1

timeout -k 10 30 dd if="$LUN" of=/dev/null bs=4096 count=1 iflag=direct status=none ||
	fail "read failed while the target answered"

kill -STOP "$TGT_PID"
defer kill -CONT "$TGT_PID"
start=$(date +%s)
if timeout -k 10 60 dd if="$LUN" of=/dev/null bs=4096 skip=1 count=1 iflag=direct 2>"$TEST_TMP/dd.err"; then
	fail "the read succeeded although the target was stopped"
fi
elapsed=$(($(date +%s) - start))
cat "$TEST_TMP/dd.err" >&2
grep -q "Input/output error" "$TEST_TMP/dd.err" || fail "the read did not fail with EIO"
msg "read failed with EIO after ${elapsed} s"
for line in "timed out after 2 s; aborting" "no answer to ABORT TASK" "no answer to LOGICAL UNIT RESET"; do
	grep -q "$line" "$ISCSIFS_LOG" || fail "log lacks: $line"
done
kill -CONT "$TGT_PID"
stop_iscsifs_checked
