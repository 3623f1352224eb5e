#!/usr/bin/env bash
# An outage longer than replacement_timeout: I/O waits, then fails with EIO;
# the daemon stays up and keeps reconnecting, and once the target is back the
# same mount serves I/O again, without a remount.
set -eu
# shellcheck source-path=SCRIPTDIR source=../lib/common.sh
. "${TESTLIB:?TESTLIB must point to tests/lib}/common.sh"
# shellcheck source-path=SCRIPTDIR source=../lib/target.sh
. "$TESTLIB/target.sh"

require_root
require_iscsifs
require_cmd cmp dd grep timeout

IQN=iqn.2026-11.org.iscsifs.test:replacement
setup_tmpdir
tgt_start
tgt_add_target 1 "$IQN"
tgt_add_lun 1 1 8
tgt_bind 1
BACKING=$(tgt_lun_file 1 1)
CHANNEL_ATTRS="replacement_timeout=3;nopout_timeout=1;nopout_response_timeout=2"
iscsifs_config "$(channel_line 0 "$TGT_PORT" "$IQN")"
MNT=$TEST_TMP/mnt
start_iscsifs "$MNT"
LUN=$MNT/$IQN/lun1
read_block() { timeout -k 10 60 dd if="$LUN" of=/dev/null bs=4096 count=1 iflag=direct status=none 2>"$TEST_TMP/dd.err"; }

read_block || fail "read failed before the outage"
tgt_crash
start=$(date +%s)
if read_block; then
	fail "a read succeeded with the target down"
fi
elapsed=$(($(date +%s) - start))
grep -q "Input/output error" "$TEST_TMP/dd.err" || fail "the read did not fail with EIO: $(cat "$TEST_TMP/dd.err")"
msg "read failed with EIO after ${elapsed} s"
grep -q "replacement_timeout" "$ISCSIFS_LOG" || fail "the log does not say why I/O fails"
! pid_gone "$ISCSIFS_PID" || fail "the daemon exited"
is_mounted "$MNT" || fail "the mount went away"

tgt_revive
wait_for 30 read_block || fail "I/O did not work again after the target came back"
timeout -k 10 60 cmp "$LUN" "$BACKING" || fail "the LUN does not read as its backing file after recovery"
grep -q "session recovered" "$ISCSIFS_LOG" || fail "no session recovery in the log"
msg "the same mount serves I/O again"
stop_iscsifs_checked
