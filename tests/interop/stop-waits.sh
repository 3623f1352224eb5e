#!/usr/bin/env bash
# 'initiator stop' returns only once the daemon's process has exited, and no
# later than ISCSIFS_STOP_TIMEOUT. The daemon's control socket closes before
# it has deregistered from its iSNS server; with that server stopped (SIGSTOP)
# the deregistration waits for its 5 s timeout, so the process outlives its
# socket by seconds. 'initiator stop' must still return only after the process
# is gone; with ISCSIFS_STOP_TIMEOUT=1 it must give up after about a second,
# exit 1 and say the daemon is still running.
set -eu
# shellcheck source-path=SCRIPTDIR source=../lib/common.sh
. "${TESTLIB:?TESTLIB must point to tests/lib}/common.sh"
# shellcheck source-path=SCRIPTDIR source=../lib/target.sh
. "$TESTLIB/target.sh"
# shellcheck source-path=SCRIPTDIR source=../lib/isns.sh
. "$TESTLIB/isns.sh"

: "${SCRIPTS:=$TESTLIB/../../scripts}"

require_root
require_iscsifs
require_cmd isnsd isnsadm timeout
require_isctl
[ -x "$SCRIPTS/initiator" ] || hard_error "no init script in '$SCRIPTS'"

IQN=iqn.2026-11.org.iscsifs.test:stop-waits
setup_tmpdir
isnsd_start
tgt_start
tgt_add_target 1 "$IQN"
tgt_add_lun 1 1 16
tgt_bind 1
iscsifs_config "$(channel_line 0 "$TGT_PORT" "$IQN")"
printf 'ISNS="127.0.0.1 %s"\n' "$ISNSD_PORT" >>"$ISCSIFS_ETC/initiator"
MNT=$TEST_TMP/mnt
cat >"$ISCSIFS_ETC/iscsifs.conf" <<EOF
paths = {
	initiator = "$ISCSIFS_ETC/initiator";
	initiator_auth = "$ISCSIFS_ETC/initiator_auth";
	device_maps = "$ISCSIFS_ETC/iscsi_device_maps";
	initiatorname = "$ISCSIFS_ETC/initiatorname.iscsi";
};
daemon = {
	control_socket = "$ISCSIFS_ETC/control.sock";
	mount_root = "$TEST_TMP/root";
};
EOF

export ISCSIFS ISCSIFS_CTL=$ISCTL ISCSIFS_MAP_DIR=$SCRIPTS ISCSIFS_MOUNTPOINT=$MNT
export ISCSIFS_CONTROL_SOCKET=$ISCSIFS_ETC/control.sock ISCSIFS_CONFIG=$ISCSIFS_ETC/iscsifs.conf
export ISCSIFS_DEFAULTS=/dev/null ISCSIFS_MAP_LOCK=$TEST_TMP/maps.lock
initiator() { timeout -k 10 300 "$SCRIPTS/initiator" "$@"; }
ctl() { timeout -k 10 60 "$ISCTL" "$@"; }
exited() {
	local state
	# 't' (traced: the sanitizers' leak check at exit) is still running.
	state=$(sed -n 's/^State:[[:space:]]*\([[:alpha:]]\).*/\1/p' "/proc/$1/status" 2>/dev/null) || state=
	case $state in Z | X) return 0 ;; '') [ ! -e "/proc/$1/status" ] ;; *) return 1 ;; esac
}
now_ms() { local t=${EPOCHREALTIME//[!0-9]/}; echo $((t / 1000)); }

DAEMON_PID=
# shellcheck disable=SC2016 # expanded at exit
defer '[ -z "$DAEMON_PID" ] || stop_iscsifs "$DAEMON_PID" "$MNT" >/dev/null 2>&1; true'
# shellcheck disable=SC2016
defer 'kill -CONT $ISNSD_PID 2>/dev/null; initiator stop >/dev/null 2>&1; true'

# start_registered: the daemon up through the init script, registered with isnsd.
start_registered() {
	initiator start || fail "initiator start failed"
	DAEMON_PID=$(ctl pid) || fail "initiator-ctl pid failed"
	wait_for 15 isns_has_node "$TEST_INITIATOR_IQN" ||
		fail "the initiator did not register with isnsd"
	kill -STOP "$ISNSD_PID"
}

start_registered
t0=$(now_ms)
initiator stop || fail "initiator stop failed"
took=$(($(now_ms) - t0))
full=$took
exited "$DAEMON_PID" || fail "initiator stop returned after ${took} ms while the daemon (pid $DAEMON_PID) was still running"
msg "initiator stop returned after ${took} ms, with the daemon (pid $DAEMON_PID) gone"
[ "$took" -ge 3000 ] ||
	fail "initiator stop took only ${took} ms: the daemon did not wait for the stopped iSNS server, so this test shows nothing"
kill -CONT "$ISNSD_PID"

# The bound: the same stop with ISCSIFS_STOP_TIMEOUT=1 gives up, says why.
start_registered
t0=$(now_ms)
st=0
ISCSIFS_STOP_TIMEOUT=1 initiator stop >"$TEST_TMP/stop.out" 2>&1 || st=$?
took=$(($(now_ms) - t0))
cat "$TEST_TMP/stop.out"
[ "$st" -eq 1 ] || fail "initiator stop with the daemon still exiting: exit $st, want 1"
grep -q "pid $DAEMON_PID) is still running 1s after" "$TEST_TMP/stop.out" ||
	fail "initiator stop did not say that the daemon is still running"
# The unmapping and the channel's logout come before the wait and take a
# varying part of both stops (seconds on a loaded machine), so the bound is
# shown by the daemon still running when the stop gave up, and by a stop shorter
# than the first one, which waited for the exit.
[ "$took" -lt "$full" ] ||
	fail "ISCSIFS_STOP_TIMEOUT=1, but initiator stop took ${took} ms (${full} ms without it)"
exited "$DAEMON_PID" && fail "the daemon had already exited: the timeout was not tested"
kill -CONT "$ISNSD_PID"
wait_for 30 exited "$DAEMON_PID" || fail "the daemon did not exit once isnsd went on"
DAEMON_PID=
msg "with ISCSIFS_STOP_TIMEOUT=1: exit 1 after ${took} ms, and the daemon exited later"
