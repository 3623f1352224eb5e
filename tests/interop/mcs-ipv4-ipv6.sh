#!/usr/bin/env bash
# One session over both address families (MC/S): istgt listens on 127.0.0.1 and
# [::1] in one portal group; one channel with a CHANNEL line for each logs in a
# session of two connections, one per family. Status shows both portals, both
# carry commands, and a verified write workload over the session loses nothing:
# every acknowledged write is in the backing file at the end.
set -eu
# shellcheck source-path=SCRIPTDIR source=../lib/common.sh
. "${TESTLIB:?TESTLIB must point to tests/lib}/common.sh"
# shellcheck source-path=SCRIPTDIR source=../lib/istgt.sh
. "$TESTLIB/istgt.sh"

require_root
require_iscsifs
require_ipv6_loopback
require_cmd istgt ss cmp python3 timeout
require_isctl

setup_tmpdir
ISTGT_ADDRS="127.0.0.1 ::1"
istgt_add_lun mcs6 0 24
istgt_start
IQN=$ISTGT_IQN
BACKING=$ISTGT_LUN_FILE
P4=127.0.0.1:$ISTGT_PORT
P6="[::1]:$ISTGT_PORT"

ATTRS="nopout_timeout=5"
iscsifs_config "0 1 127.0.0.1 $ISTGT_PORT 0 AuthMethod=None $ATTRS $IQN" \
	"0 1 ::1 $ISTGT_PORT 0 AuthMethod=None $ATTRS $IQN"
MNT=$TEST_TMP/mnt
start_iscsifs "$MNT"
ctl() { timeout -k 10 60 "$ISCTL" -s "$ISCSIFS_ETC/control.sock" "$@"; }

# Both connections logged in, CID 0 over IPv4 and CID 1 over IPv6, in one session.
both_up() {
	ctl status --json >"$TEST_TMP/status.json" 2>/dev/null || return 1
	python3 - "$TEST_TMP/status.json" "$P4" "$P6" <<'EOF'
import json, sys
path, p0, p1 = sys.argv[1:]
c = json.load(open(path))["channels"][0]["connections"]
sys.exit(0 if [(x["cid"], x["portal"], x["state"]) for x in c] ==
         [(0, p0, "logged in"), (1, p1, "logged in")] else 1)
EOF
}
wait_for 20 both_up || fail "status does not show two connections, $P4 and $P6: $(cat "$TEST_TMP/status.json")"
ctl status >"$TEST_TMP/status.txt"
show_on_failure "$TEST_TMP/status.txt"
grep -qF "connection 1: $P6, logged in" "$TEST_TMP/status.txt" ||
	fail "initiator-ctl status does not show connection 1 at $P6"
grep -qF "connection 1 joined the session at $P6" "$ISCSIFS_LOG" ||
	fail "the log does not show connection 1 joining the session at $P6"
ss -Htn state established "dst $P4" | grep -q . || fail "no TCP connection to $P4"
ss -Htn state established "dst $P6" | grep -q . || fail "no TCP connection to $P6"
msg "one session, two connections: $P4 and $P6"

WORKLOAD_MAX_PASSES=1000000 start_workload "$MNT/$IQN/lun0" 16 2
sent() {
	ctl status --json | python3 -c '
import json, sys
c = json.load(sys.stdin)["channels"][0]["connections"]
sys.exit(0 if len(c) == 2 and all(x["commands_sent"] > 10 for x in c) else 1)'
}
wait_for 30 sent || fail "the commands do not go over both connections: $(ctl status --json)"
wait_more_passes 2
finish_workload
msg "commands went over both families"
stop_iscsifs_checked
istgt_stop --keep-files || true
cmp -n $((16 << 20)) "$TEST_TMP/expected" "$BACKING" || fail "the backing file lacks acknowledged writes"
msg "every acknowledged write is in the backing file"
