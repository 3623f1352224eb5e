#!/usr/bin/env bash
# Multipath: tgtd listens on two portals, one on each of two veth links into a
# network namespace this test creates. Two channels with multipath=failover,
# one per portal, reach the same LUN: it appears once, as
# multipath/<identifier> (by-id points there), and not as a per-target lunN
# file. A verified write workload runs on it while the test takes the active
# path's link down and up again: no I/O fails, status shows that path failed
# meanwhile, and every acknowledged write is in the backing file. Then, with
# multipath=round-robin, both paths carry I/O; under a workload again, one
# path's channel stops and starts (stopping the last one is refused), and
# both links go down for 12 s: I/O waits and goes on, with no error.
set -eu
# shellcheck source-path=SCRIPTDIR source=../lib/common.sh
. "${TESTLIB:?TESTLIB must point to tests/lib}/common.sh"
# shellcheck source-path=SCRIPTDIR source=../lib/target.sh
. "$TESTLIB/target.sh"

require_root
require_iscsifs
require_cmd ip ss cmp grep python3 timeout dd
require_isctl

setup_tmpdir
# Two links, with addresses that exist only on them, inside this test's own namespace.
netns_links mp 216 2

IQN=iqn.2026-11.org.iscsifs.test:multipath
TGT_NETNS=$NS
TGT_ADDR=$NET1.2
tgt_start
# The second portal of the same target node.
tgt_cfg --op new --mode portal --param "portal=$NET2.2:$TGT_PORT" ||
	fail "tgtadm: cannot add the portal $NET2.2:$TGT_PORT"
tgt_add_target 1 "$IQN"
tgt_add_lun 1 1 24
tgt_bind 1
BACKING=$(tgt_lun_file 1 1)
wait_for 10 in_netns "$NS" sh -c "ss -Hltn 'src $NET2.2' | grep -q ." ||
	fail "tgtd does not listen on $NET2.2:$TGT_PORT"

export ISCSIFS_CONTROL_SOCKET
ctl() { timeout -k 10 60 "$ISCTL" "$@"; }

# config POLICY [ATTRS]: two channels, one through each link.
config() {
	local attrs="nopout_timeout=2;nopout_response_timeout=3;multipath=$1${2:+;$2}"
	iscsifs_config "0 1 $NET1.2 $TGT_PORT 0 AuthMethod=None $attrs $IQN" \
		"1 1 $NET2.2 $TGT_PORT 0 AuthMethod=None $attrs $IQN"
	ISCSIFS_CONTROL_SOCKET=$ISCSIFS_ETC/control.sock
}

# paths STATE0 STATE1: the two paths' states, in channel order, from status
# --json; the device's identifier goes to $TEST_TMP/id, each path's I/O count
# to $TEST_TMP/ios.
paths() {
	ctl status --json >"$TEST_TMP/status.json" 2>/dev/null || return 1
	python3 - "$TEST_TMP/status.json" "$1" "$2" "$NET1.2:$TGT_PORT" "$NET2.2:$TGT_PORT" \
		"$TEST_TMP" <<'EOF'
import json, sys
path, s0, s1, p0, p1, tmp = sys.argv[1:]
mp = json.load(open(path))["multipath"]
if len(mp) != 1:
    sys.exit(1)
ps = mp[0]["paths"]
open(tmp + "/id", "w").write(mp[0]["id"] + "\n")
open(tmp + "/ios", "w").write(" ".join(str(p["ios"]) for p in ps) + "\n")
ok = (len(ps) == 2 and [p["channel"] for p in ps] == [0, 1] and
      [p["portal"] for p in ps] == [p0, p1] and [p["state"] for p in ps] == [s0, s1])
sys.exit(0 if ok else 1)
EOF
}

config failover
MNT=$TEST_TMP/mnt
start_iscsifs "$MNT"
wait_for 20 paths active standby ||
	fail "status does not show one device with two paths (active, standby): $(cat "$TEST_TMP/status.json")"
ID=$(cat "$TEST_TMP/id")
FILE=$MNT/multipath/$ID
[ -f "$FILE" ] || fail "no multipath file $FILE"
[ "$(stat -c %s "$FILE")" = $((24 << 20)) ] || fail "$FILE does not have the LUN's size"
[ ! -e "$MNT/$IQN" ] || fail "the target's directory $MNT/$IQN is there, with only paths in it"
[ "$(readlink "$MNT/by-id/$ID")" = "../multipath/$ID" ] ||
	fail "by-id/$ID does not point to the multipath file: $(readlink "$MNT/by-id/$ID" || true)"
ctl status >"$TEST_TMP/status.txt"
show_on_failure "$TEST_TMP/status.txt"
grep -q "^multipath $ID: $FILE, $((24 << 20)) bytes, failover, 2 path(s)" "$TEST_TMP/status.txt" ||
	fail "initiator-ctl status does not show the multipath device"
grep -q "path channel 1 lun1 via $NET2.2:$TGT_PORT: standby" "$TEST_TMP/status.txt" ||
	fail "initiator-ctl status does not show the second path on standby"
msg "one multipath file $FILE over $NET1.2 (active) and $NET2.2 (standby)"

# tgtd behind veth is quick: the workload must not run out of passes.
WORKLOAD_MAX_PASSES=1000000 start_workload "$FILE" 16 2

ip link set "$VH1" down
down=$(date +%s)
msg "link 1 (the active path) down"
failed() { grep -q "$ID: path ch0 lun1 via $NET1.2 failed" "$ISCSIFS_LOG"; }
wait_for 15 failed || fail "the loss of path 0 was not logged"
wait_for 10 paths failed active ||
	fail "status does not show path 0 failed and path 1 active: $(cat "$TEST_TMP/status.json")"
read -r _ ios1 <"$TEST_TMP/ios"
wait_more_passes 1
paths failed active || fail "path 0 is not failed while its link is down: $(cat "$TEST_TMP/status.json")"
read -r _ ios1b <"$TEST_TMP/ios"
[ "$ios1b" -gt "$ios1" ] || fail "path 1 carried no I/O while path 0 was down"
grep -q "$ID: failover to path ch1 lun1 via $NET2.2" "$ISCSIFS_LOG" || fail "the failover was not logged"
msg "the workload went on through path 1 ($ios1 -> $ios1b I/Os there)"
# A cut of 15 s, longer than detection and a reconnection attempt or two.
left=$((15 - ($(date +%s) - down)))
[ "$left" -le 0 ] || sleep "$left"
wait_more_passes 2
paths failed active || fail "path 0 is not failed while its link is down: $(cat "$TEST_TMP/status.json")"

ip link set "$VH1" up
msg "link 1 up again"
# Failover stays on the path that works; the other one is standby again.
wait_for 60 paths standby active ||
	fail "path 0 did not come back: $(cat "$TEST_TMP/status.json")"
wait_more_passes 1
finish_workload
back() { grep -q "$ID: path ch0 lun1 via $NET1.2 is back" "$ISCSIFS_LOG"; }
# The log is written by the worker's once-a-second look at the paths.
wait_for 5 back || fail "the return of path 0 was not logged"
stop_iscsifs_checked
cmp -n $((16 << 20)) "$TEST_TMP/expected" "$BACKING" || fail "the backing file lacks acknowledged writes"
msg "no error and no lost write with the active path cut and restored"

# Round-robin: every I/O goes to the next path.
config round-robin
start_iscsifs "$MNT"
wait_for 20 paths active active ||
	fail "status does not show two active round-robin paths: $(cat "$TEST_TMP/status.json")"
timeout -k 10 60 dd if="$FILE" of=/dev/null bs=64k count=256 iflag=direct status=none ||
	fail "reading the multipath file failed"
paths active active || fail "a round-robin path is not active: $(cat "$TEST_TMP/status.json")"
read -r ios0 ios1 <"$TEST_TMP/ios"
if [ "$ios0" -lt 100 ] || [ "$ios1" -lt 100 ]; then
	fail "round-robin did not use both paths: $ios0 and $ios1 I/Os"
fi
msg "round-robin: $ios0 and $ios1 I/Os on the two paths"

# Under a workload: one path's channel may stop (its paths leave the device),
# the last one may not; both links down makes I/O wait, not fail.
rm -f "$TEST_TMP/workload.stop" # the first workload's, which would end this one
WORKLOAD_MAX_PASSES=1000000 start_workload "$FILE" 16 2
ctl stop 1 >"$TEST_TMP/stop1.out" 2>&1 || fail "initiator-ctl stop 1 failed: $(cat "$TEST_TMP/stop1.out")"
one_path() {
	ctl status --json | python3 -c '
import json, sys
ps = json.load(sys.stdin)["multipath"][0]["paths"]
sys.exit(0 if [(p["channel"], p["state"]) for p in ps] == [(0, "active")] else 1)'
}
one_path || fail "after stop 1 the device does not have path 0 alone: $(ctl status --json)"
wait_more_passes 1
if ctl stop 0 >"$TEST_TMP/stop0.out" 2>&1; then
	fail "initiator-ctl stop 0 stopped the last path of an open multipath file"
fi
grep -q "channel 0 is busy: multipath/$ID is open" "$TEST_TMP/stop0.out" ||
	fail "the refusal does not name the multipath file: $(cat "$TEST_TMP/stop0.out")"
ctl start 1 || fail "initiator-ctl start 1 failed"
wait_for 20 paths active active || fail "path 1 did not join again: $(cat "$TEST_TMP/status.json")"
wait_more_passes 1
msg "a path's channel stopped and started under the workload; the last path refused to stop"

ip link set "$VH1" down
ip link set "$VH2" down
down=$(date +%s)
waiting() {
	ctl status --json | python3 -c '
import json, sys
d = json.load(sys.stdin)["multipath"][0]
sys.exit(0 if d["waiting"] > 0 and all(p["state"] == "failed" for p in d["paths"]) else 1)'
}
wait_for 20 waiting || fail "with both links down, status does not show I/O waiting: $(ctl status --json)"
left=$((12 - ($(date +%s) - down)))
[ "$left" -le 0 ] || sleep "$left"
ip link set "$VH2" up
msg "both links down for 12 s, then link 2 up"
wait_more_passes 1
ip link set "$VH1" up
wait_for 60 paths active active || fail "the paths did not both come back: $(cat "$TEST_TMP/status.json")"
wait_more_passes 1
finish_workload
stop_iscsifs_checked
cmp -n $((16 << 20)) "$TEST_TMP/expected" "$BACKING" || fail "the backing file lacks acknowledged writes"
msg "no error and no lost write with a path stopped, and with every path down for 12 s"

# With no path back within replacement_timeout, waiting I/O fails with EIO;
# the same file works again once a path is back.
config failover replacement_timeout=3
start_iscsifs "$MNT"
wait_for 20 paths active standby || fail "the paths are not up: $(cat "$TEST_TMP/status.json")"
ip link set "$VH1" down
ip link set "$VH2" down
both_failed() { paths failed failed; }
wait_for 20 both_failed || fail "the paths did not fail with both links down: $(cat "$TEST_TMP/status.json")"
t0=$(date +%s)
if timeout -k 10 60 dd if="$FILE" of=/dev/null bs=4k count=1 iflag=direct status=none \
	2>"$TEST_TMP/dd.err"; then
	fail "a read with no path for longer than replacement_timeout succeeded"
fi
waited=$(($(date +%s) - t0))
grep -q "Input/output error" "$TEST_TMP/dd.err" || fail "the read did not fail with EIO: $(cat "$TEST_TMP/dd.err")"
if [ "$waited" -lt 2 ] || [ "$waited" -gt 10 ]; then
	fail "the read failed after $waited s, not after replacement_timeout (3 s)"
fi
ip link set "$VH1" up
ip link set "$VH2" up
wait_for 60 paths active standby || fail "the paths did not come back: $(cat "$TEST_TMP/status.json")"
timeout -k 10 60 dd if="$FILE" of=/dev/null bs=4k count=1 iflag=direct status=none ||
	fail "the file does not serve I/O again once the paths are back"
stop_iscsifs_checked
msg "with no path for longer than replacement_timeout, I/O failed with EIO after $waited s, then worked again"
msg "multipath failover and round-robin over two portals"
