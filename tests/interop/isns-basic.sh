#!/usr/bin/env bash
# iSNS end to end: isnsd on 127.0.0.1, tgtd registering its target with it, and a channel
# that names only the target's IQN. The initiator registers, lists the target with its
# portal, logs in through the portal iSNS gave, reads the LUN, and deregisters at umount.
set -eu
# shellcheck source-path=SCRIPTDIR source=../lib/common.sh
. "${TESTLIB:?TESTLIB must point to tests/lib}/common.sh"
# shellcheck source-path=SCRIPTDIR source=../lib/target.sh
. "$TESTLIB/target.sh"
# shellcheck source-path=SCRIPTDIR source=../lib/isns.sh
. "$TESTLIB/isns.sh"

require_root
require_iscsifs
require_cmd cmp timeout isnsd isnsadm
require_isctl

IQN=iqn.2026-11.org.iscsifs.test:isns-basic
setup_tmpdir
isnsd_start
isns_tgt_start
tgt_add_target 1 "$IQN"
tgt_add_lun 1 1 16
tgt_bind 1
wait_for 15 isns_has_node "$IQN" || fail "tgtd did not register $IQN with isnsd"
msg "tgtd registered $IQN with isnsd"

# What we send the server must decode in tshark without a malformed or erroneous field.
CAP=$TEST_TMP/isns.pcap
CAP_PID=
stop_capture() {
	local pid=$CAP_PID
	[ -n "$pid" ] || return 0
	CAP_PID=
	kill -INT "$pid" 2>/dev/null || true
	wait_for 10 pid_gone "$pid" || kill -9 "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}
capturing() { pid_gone "$CAP_PID" || grep -q '^Capturing on' "$TEST_TMP/dumpcap.log"; }
if command -v dumpcap >/dev/null 2>&1 && command -v tshark >/dev/null 2>&1; then
	export WIRESHARK_CONFIG_DIR=$TEST_TMP/wireshark
	mkdir -p "$WIRESHARK_CONFIG_DIR"
	dumpcap -q -P -i lo -f "tcp port $ISNSD_PORT" -w "$CAP" </dev/null 2>"$TEST_TMP/dumpcap.log" &
	CAP_PID=$!
	defer stop_capture
	wait_for 15 capturing || fail "dumpcap did not start"
	pid_gone "$CAP_PID" && CAP_PID=
fi

iscsifs_config "0 1 isns 0 0 AuthMethod=None nopout_timeout=5 $IQN"
printf 'ISNS="127.0.0.1 %s"\n' "$ISNSD_PORT" >>"$ISCSIFS_ETC/initiator"
ctl() { timeout -k 10 60 "$ISCTL" -s "$ISCSIFS_ETC/control.sock" "$@"; }

MNT=$TEST_TMP/mnt
start_iscsifs "$MNT"
isns_has_node "$TEST_INITIATOR_IQN" || fail "the initiator is not registered with isnsd"
msg "initiator registered with isnsd"

ctl discover >"$TEST_TMP/discover.out" || fail "initiator-ctl discover failed"
cat "$TEST_TMP/discover.out"
grep -qxF "$IQN 127.0.0.1:3260" "$TEST_TMP/discover.out" ||
	fail "discover does not list $IQN at 127.0.0.1:3260"

timeout -k 10 120 cmp "$MNT/$IQN/lun1" "$(tgt_lun_file 1 1)" ||
	fail "lun1 read through the iSNS-resolved channel differs from its backing file"
msg "lun1 matches its backing file"

ctl status >"$TEST_TMP/status.out" || fail "initiator-ctl status failed"
cat "$TEST_TMP/status.out"
grep -qF "iSNS server 127.0.0.1:$ISNSD_PORT: registered" "$TEST_TMP/status.out" ||
	fail "status does not say the initiator is registered with 127.0.0.1:$ISNSD_PORT"
grep -qF "portal 127.0.0.1:3260 (from iSNS)" "$TEST_TMP/status.out" ||
	fail "status does not show the portal iSNS gave"

stop_iscsifs_checked
grep -qF "iSNS: deregistered $TEST_INITIATOR_IQN" "$ISCSIFS_LOG" || fail "no deregistration logged"
! isns_has_node "$TEST_INITIATOR_IQN" || fail "the initiator is still registered after umount"
msg "initiator deregistered at umount"

if [ -n "$CAP_PID" ]; then
	# The last packets may still sit in the capture ring: give dumpcap a moment.
	sleep 2
	stop_capture
	isns_frames() {
		tshark -r "$CAP" -d "tcp.port==$ISNSD_PORT,isns" -Y "$1" -T fields -e frame.number \
			2>/dev/null | wc -l
	}
	ours="isns.iscsi_name == \"$TEST_INITIATOR_IQN\""
	for f in 0x0001 0x0002 0x0004 0x0005; do
		[ "$(isns_frames "isns.functionid == $f && $ours")" -gt 0 ] ||
			fail "no iSNS function $f from the initiator in the capture"
	done
	bad=$(isns_frames '_ws.malformed || _ws.expert.severity >= error')
	[ "$bad" -eq 0 ] || fail "$bad malformed iSNS frame(s) in $CAP"
	msg "capture: DevAttrReg, DevAttrQry, DevDereg and SCNReg decode cleanly in tshark"
else
	msg "no dumpcap/tshark: the capture check is left out"
fi
