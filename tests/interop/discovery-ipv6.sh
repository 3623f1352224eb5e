#!/usr/bin/env bash
# SendTargets over IPv6, with a target name in mixed case: tgtd listens on [::1]
# only, so it answers with TargetAddress=[::1]:port,1. A CHANNEL line without a
# target name finds the target there, logs the portal it reports as parsed, and
# serves the LUN under a directory named as the target writes its name. The
# LUN reads as its backing file, and initiator-ctl takes the name in any case.
set -eu
# shellcheck source-path=SCRIPTDIR source=../lib/common.sh
. "${TESTLIB:?TESTLIB must point to tests/lib}/common.sh"
# shellcheck source-path=SCRIPTDIR source=../lib/target.sh
. "$TESTLIB/target.sh"

require_root
require_iscsifs
require_ipv6_loopback
require_cmd cmp ls timeout
require_isctl

# The howto's first target, as it writes it.
IQN=iqn.2005-04.com.example.target.mipsEE:sn.1234567890
setup_tmpdir
TGT_ADDR=::1 tgt_start
tgt_add_target 1 "$IQN"
tgt_add_lun 1 1 16
tgt_bind 1
PORTAL="[::1]:$TGT_PORT"

iscsifs_config "$(CHANNEL_ADDR=::1 channel_line 0 "$TGT_PORT")"
MNT=$TEST_TMP/mnt
start_iscsifs "$MNT"

grep -qF "ch0: discovered $IQN at $PORTAL; its portals: $PORTAL (group 1)" "$ISCSIFS_LOG" ||
	fail "the log does not show $IQN discovered at $PORTAL with the portal it reported"
[ "$(timeout -k 10 30 ls "$MNT" | grep -v '^by-\|^multipath$')" = "$IQN" ] ||
	fail "the mount point does not hold one directory named $IQN: $(ls "$MNT")"
timeout -k 10 60 cmp "$MNT/$IQN/lun1" "$(tgt_lun_file 1 1)" || fail "lun1 differs from its backing file"
msg "$IQN discovered over $PORTAL; $MNT/$IQN/lun1 reads as its backing file"

ctl() { timeout -k 10 30 "$ISCTL" -s "$ISCSIFS_ETC/control.sock" "$@"; }
LOWER=$(printf '%s' "$IQN" | tr '[:upper:]' '[:lower:]')
ctl status "$LOWER" >"$TEST_TMP/status.txt" || fail "initiator-ctl status $LOWER failed"
grep -qF "channel 0: running, target $IQN, portal $PORTAL" "$TEST_TMP/status.txt" ||
	fail "initiator-ctl status $LOWER does not show channel 0: $(cat "$TEST_TMP/status.txt")"
st=0
ctl status iqn.2005-04.com.example:other >"$TEST_TMP/other.txt" 2>&1 || st=$?
[ "$st" -eq 1 ] || fail "initiator-ctl status of an unknown target: exit $st, want 1"
grep -qF "no channel has the target iqn.2005-04.com.example:other" "$TEST_TMP/other.txt" ||
	fail "initiator-ctl does not say that no channel has that target: $(cat "$TEST_TMP/other.txt")"
msg "initiator-ctl takes the target's name in lower case"

stop_iscsifs_checked
