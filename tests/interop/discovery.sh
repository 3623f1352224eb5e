#!/usr/bin/env bash
# A CHANNEL line without a target name: with one target on the portal the
# daemon finds it by SendTargets and serves its LUN under that name; with two
# it refuses to choose, exits non-zero without mounting, and names both.
set -eu
# shellcheck source-path=SCRIPTDIR source=../lib/common.sh
. "${TESTLIB:?TESTLIB must point to tests/lib}/common.sh"
# shellcheck source-path=SCRIPTDIR source=../lib/target.sh
. "$TESTLIB/target.sh"

require_root
require_iscsifs
require_cmd cmp timeout

IQN1=iqn.2026-11.org.iscsifs.test:discover-one
IQN2=iqn.2026-11.org.iscsifs.test:discover-two
setup_tmpdir
tgt_start
tgt_add_target 1 "$IQN1"
tgt_add_lun 1 1 16
tgt_bind 1

iscsifs_config "$(channel_line 0 "$TGT_PORT")"

# One target: discovered and served.
MNT=$TEST_TMP/mnt1
start_iscsifs "$MNT"
timeout -k 10 30 ls -lR "$MNT"
timeout -k 10 30 test -f "$MNT/$IQN1/lun1" || fail "$MNT/$IQN1/lun1 does not exist after discovery"
timeout -k 10 120 cmp "$MNT/$IQN1/lun1" "$(tgt_lun_file 1 1)" || fail "lun1 differs from its backing file"
msg "single target discovered; lun1 matches"
stop_iscsifs_checked

# Two targets: the daemon must refuse. Default log level, so the names must be
# in what it says about the error, not in debug chatter.
tgt_add_target 2 "$IQN2"
tgt_add_lun 2 1 8
tgt_bind 2
MNT=$TEST_TMP/mnt2
ISCSIFS_LOG_LEVEL='' iscsifs_spawn "$MNT"
st=0
wait_iscsifs_exit "$ISCSIFS_START_TIMEOUT" || st=$?
[ "$st" -ne 124 ] || fail "daemon still running ${ISCSIFS_START_TIMEOUT}s after start with two targets"
[ "$st" -ne 0 ] || fail "daemon exited with status 0 although two targets were found"
! is_mounted "$MNT" || fail "daemon mounted $MNT although two targets were found"
cat "$ISCSIFS_LOG"
grep -qF "$IQN1" "$ISCSIFS_LOG" || fail "error output does not name $IQN1"
grep -qF "$IQN2" "$ISCSIFS_LOG" || fail "error output does not name $IQN2"
msg "two targets: daemon refused with status $st and named both"
