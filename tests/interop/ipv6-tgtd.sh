#!/usr/bin/env bash
# An IPv6 portal: tgtd listens on [::1] only; a CHANNEL line names ::1 and binds
# to lo. The LUN reads as its backing file, bytes written through the LUN file
# are in the backing file, and status, the log and by-path write the portal as
# [::1]:port.
set -eu
# shellcheck source-path=SCRIPTDIR source=../lib/common.sh
. "${TESTLIB:?TESTLIB must point to tests/lib}/common.sh"
# shellcheck source-path=SCRIPTDIR source=../lib/target.sh
. "$TESTLIB/target.sh"

require_root
require_iscsifs
require_ipv6_loopback
require_cmd cmp dd ss readlink python3 timeout
require_isctl

IQN=iqn.2026-11.org.iscsifs.test:ipv6
setup_tmpdir
TGT_ADDR=::1 tgt_start
tgt_add_target 1 "$IQN"
tgt_add_lun 1 1 16
tgt_bind 1
BACKING=$(tgt_lun_file 1 1)
PORTAL="[::1]:$TGT_PORT"

iscsifs_config "0 1 lo ::1 $TGT_PORT 0 AuthMethod=None nopout_timeout=5 $IQN"
MNT=$TEST_TMP/mnt
start_iscsifs "$MNT"
LUN=$MNT/$IQN/lun1

timeout -k 10 60 cmp "$LUN" "$BACKING" || fail "lun1 does not read as its backing file"
msg "lun1 reads as its backing file over $PORTAL"

# Writes at a few offsets, then the same bytes in the backing file.
head -c $((3 * 65536)) /dev/urandom >"$TEST_TMP/data"
for off in 0 7 200; do
	timeout -k 10 60 dd if="$TEST_TMP/data" of="$LUN" bs=64k seek="$off" conv=notrunc,fsync \
		status=none || fail "writing at block $off of $LUN failed"
	timeout -k 10 60 cmp -n $((3 * 65536)) "$TEST_TMP/data" \
		<(dd if="$BACKING" bs=64k skip="$off" count=3 status=none) ||
		fail "the backing file does not hold what was written at block $off"
done
drop_caches
timeout -k 10 60 cmp "$LUN" "$BACKING" || fail "lun1 differs from its backing file after the writes"
msg "writes through $PORTAL are in the backing file"

# The connection goes to ::1, from ::1.
ss -Htn state established "dst $PORTAL" | grep -q . || fail "no TCP connection to $PORTAL"

# Status, text and JSON, and the log write the portal in brackets.
ctl() { timeout -k 10 30 "$ISCTL" -s "$ISCSIFS_ETC/control.sock" "$@"; }
ctl status >"$TEST_TMP/status.txt" || fail "initiator-ctl status failed"
show_on_failure "$TEST_TMP/status.txt"
grep -qF "portal $PORTAL via lo" "$TEST_TMP/status.txt" || fail "status does not show portal $PORTAL via lo"
grep -qF "connection 0: $PORTAL via lo, logged in" "$TEST_TMP/status.txt" ||
	fail "status does not show connection 0 at $PORTAL"
ctl status --json >"$TEST_TMP/status.json" || fail "initiator-ctl status --json failed"
python3 - "$TEST_TMP/status.json" "$PORTAL" <<'EOF' || fail "status --json does not show the connection at $PORTAL"
import json, sys
c = json.load(open(sys.argv[1]))["channels"][0]["connections"]
sys.exit(0 if [x["portal"] for x in c] == [sys.argv[2]] and c[0]["netdev"] == "lo" else 1)
EOF
grep -qF "logged in to $IQN at $PORTAL" "$ISCSIFS_LOG" || fail "the log does not name $PORTAL"
msg "status and the log show $PORTAL"

# by-path: <[address]:port>-<target>-lun<N>.
BYPATH=$MNT/by-path/$PORTAL-$IQN-lun1
[ -L "$BYPATH" ] || fail "no $BYPATH (by-path has: $(ls "$MNT/by-path"))"
[ "$(readlink "$BYPATH")" = "../$IQN/lun1" ] || fail "$BYPATH points to $(readlink "$BYPATH")"
timeout -k 10 60 cmp "$BYPATH" "$BACKING" || fail "$BYPATH does not read as the LUN"
msg "by-path/$PORTAL-$IQN-lun1 leads to the LUN"

stop_iscsifs_checked
