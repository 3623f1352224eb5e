#!/usr/bin/env bash
# ErrorRecoveryLevel against istgt, which implements level 0 only (its own
# configuration refuses any other value) and answers an offer of 2 with 0. A
# channel at the default level and a channel that asks for 2 both log in at
# level 0; the second says in its log that it got less than it asked for, and
# initiator-ctl status gives both the level granted and the level asked for.
# Each LUN reads as its backing file and takes seeded unaligned writes byte for
# byte, and nothing is recovered on the way.
#
# Then the channel that asks for 2 opens a session of two connections and one
# of them is killed (ss -K) under a write workload. At the level granted, 0,
# the lost connection is closed with a Logout "close the connection" (reason
# 1), never "remove the connection for recovery" (reason 2), and no task is
# reassigned. istgt closes the connection that carries that Logout, so the
# session is reinstated; whichever path is taken, no write fails and every
# byte lands. The test prints the path.
set -eu
# shellcheck source-path=SCRIPTDIR source=../lib/common.sh
. "${TESTLIB:?TESTLIB must point to tests/lib}/common.sh"
# shellcheck source-path=SCRIPTDIR source=../lib/istgt.sh
. "$TESTLIB/istgt.sh"

require_root
require_iscsifs
require_cmd istgt awk cmp cp dd grep head python3 sed ss timeout
require_isctl
[ -f "$TESTLIB/rwcheck.py" ] || hard_error "$TESTLIB/rwcheck.py is missing"

setup_tmpdir
istgt_add_lun erl0 0 16
istgt_add_lun erl2 0 16
istgt_start
IQN0=$(istgt_iqn erl0)
IQN2=$(istgt_iqn erl2)

iscsifs_config "$(channel_line 0 "$ISTGT_PORT" "$IQN0")" \
	"$(CHANNEL_KEYS="AuthMethod=None;ErrorRecoveryLevel=2" channel_line 1 "$ISTGT_PORT" "$IQN2")"
MNT=$TEST_TMP/mnt
start_iscsifs "$MNT"
export ISCSIFS_CONTROL_SOCKET=$ISCSIFS_ETC/control.sock
ctl() { timeout -k 10 60 "$ISCTL" "$@"; }

# granted CHANNEL: the level its login line gives.
granted() {
	sed -n "s/.*ch$1: logged in to .*ErrorRecoveryLevel \([0-2]\)).*/\1/p" "$ISCSIFS_LOG" | head -n 1
}
erl0=$(granted 0)
erl2=$(granted 1)
[ "$erl0" = 0 ] || fail "the channel at the default level logged in at level '${erl0:-?}'"
[ "$erl2" = 0 ] || fail "istgt granted '${erl2:-?}' to an offer of 2 (it implements level 0 only)"
grep -q "ch1: ErrorRecoveryLevel 2 asked for, $IQN2 grants 0" "$ISCSIFS_LOG" ||
	fail "no warning that istgt granted 0 of the 2 asked for"
! grep -q "ch0: ErrorRecoveryLevel .* asked for" "$ISCSIFS_LOG" ||
	fail "the channel at the default level warns about its level"
ctl status --json >"$TEST_TMP/status.json" || fail "initiator-ctl status --json failed"
python3 - "$TEST_TMP/status.json" 0:0 0:2 <<'PY' || fail "status --json does not give the levels granted and asked for"
import json, sys
chans = json.load(open(sys.argv[1]))["channels"]
if len(chans) != 2:
    print("%d channels in status, 2 expected" % len(chans))
    sys.exit(1)
for ch, want in zip(chans, sys.argv[2:]):
    level, asked = (int(x) for x in want.split(":"))
    r = ch["recovery"]
    if (r["level"], r["asked"], ch["params"]["ErrorRecoveryLevel"]) != (level, asked, level):
        print("channel %d: recovery %s, want level %d asked %d" % (ch["id"], r, level, asked))
        sys.exit(1)
    if r["snacks"] or r["commands_resent"] or r["tasks_reassigned"] or r["tasks_not_reassigned"]:
        print("channel %d recovered something: %s" % (ch["id"], r))
        sys.exit(1)
PY
ctl status >"$TEST_TMP/status.txt" || fail "initiator-ctl status failed"
show_on_failure "$TEST_TMP/status.txt"
grep -q "error recovery: level 0 (2 asked)" "$TEST_TMP/status.txt" ||
	fail "status does not give channel 1's level and what it asked for"
[ "$(grep -c "error recovery:" "$TEST_TMP/status.txt")" = 1 ] ||
	fail "status gives error recovery for the channel at the default level"

n=0
for name in erl0 erl2; do
	iqn=$(istgt_iqn "$name")
	lun=$MNT/$iqn/lun0
	backing=$(istgt_lun_file "$name" 0)
	timeout -k 10 60 cmp "$lun" "$backing" || fail "$name: the LUN does not read as its backing file"
	cp "$backing" "$TEST_TMP/expected-$name"
	n=$((n + 1))
	timeout -k 10 120 python3 "$TESTLIB/rwcheck.py" write "$n" "$lun" "$TEST_TMP/expected-$name" ||
		fail "$name: the writes failed"
	timeout -k 10 60 python3 "$TESTLIB/rwcheck.py" check "$n" "$TEST_TMP/expected-$name" "$lun" \
		"$backing" || fail "$name: written regions differ"
	cmp "$TEST_TMP/expected-$name" "$backing" || fail "$name: stray bytes in the backing file"
done
! grep -Eq "asking for (it|them) again|sending it again|TASK REASSIGN" "$ISCSIFS_LOG" ||
	fail "recovery happened although nothing was lost"
msg "ErrorRecoveryLevel granted by istgt: $erl0 by default, $erl2 to an offer of 2; data intact"
stop_iscsifs_checked

# The channel that asks for 2, with two connections, one killed under writes.
iscsifs_config "1 2 127.0.0.1 $ISTGT_PORT 0 AuthMethod=None;ErrorRecoveryLevel=2;DefaultTime2Wait=0 nopout_timeout=5 $IQN2"
start_iscsifs "$MNT"
joined() { grep -q "connection 1 joined the session" "$ISCSIFS_LOG"; }
wait_for 10 joined || fail "the second connection did not join the session"
[ "$(granted 1)" = 0 ] || fail "the session of two connections logged in at level '$(granted 1)'"
LUN=$MNT/$IQN2/lun0
BACKING=$(istgt_lun_file erl2 0)
# Eight writers on eight slices of 2 MiB, 1 MiB direct writes. With fewer,
# istgt is so quick that a connection often has nothing in flight when it is
# killed, and its loss then shows nothing of the level the session works at.
head -c $((16 << 20)) /dev/urandom >"$TEST_TMP/new"
writer() { # writer SLICE: until the test says stop (200 rounds at most)
	local round
	for ((round = 0; round < 200; round++)); do
		[ ! -e "$TEST_TMP/stop" ] || return 0
		timeout -k 10 120 dd if="$TEST_TMP/new" of="$LUN" bs=1M count=2 skip=$(($1 * 2)) \
			seek=$(($1 * 2)) oflag=direct conv=notrunc status=none || return 1
	done
}
WRITERS=()
for slice in 0 1 2 3 4 5 6 7; do
	writer "$slice" >"$TEST_TMP/writer$slice.log" 2>&1 &
	WRITERS+=("$!")
	show_on_failure "$TEST_TMP/writer$slice.log"
done
defer "kill ${WRITERS[*]} 2>/dev/null || true"
sleep 1
# Both connections go to the same portal: kill the second by its local port.
# A connection found idle is only logged in again; up to three kills, until one
# finds commands to clean up.
count() { grep -c "$1" "$ISCSIFS_LOG" || true; }
settled() { # settled JOINS: the kill was cleaned up, or the connection is back
	[ "$(count "CLEANUP_WAIT -> IN_CLEANUP")" -gt 0 ] || [ "$(count "joined the session")" -gt "$1" ]
}
for attempt in 1 2 3; do
	joins=$(count "joined the session")
	victim=$(ss -Htn state established "dport = :$ISTGT_PORT" | awk 'NR == 2 { n = split($3, a, ":"); print a[n] }')
	[ -n "$victim" ] || fail "no second connection to kill"
	ss -K -Htn state established "dport = :$ISTGT_PORT" "sport = :$victim" >/dev/null ||
		fail "ss -K could not kill the connection from port $victim"
	wait_for 15 settled "$joins" || fail "the killed connection was neither cleaned up nor back"
	[ "$(count "CLEANUP_WAIT -> IN_CLEANUP")" = 0 ] || break
done
if [ "$(count "CLEANUP_WAIT -> IN_CLEANUP")" = 0 ]; then
	msg "each of $attempt kills found the connection idle"
else
	msg "a connection killed $attempt time(s) until one had commands in flight"
fi
sleep 1
touch "$TEST_TMP/stop"
for slice in 0 1 2 3 4 5 6 7; do
	wait "${WRITERS[slice]}" || fail "a write of writer $slice failed after a connection was killed"
done
grep -q "lost: .*connection(s) carry on" "$ISCSIFS_LOG" ||
	fail "the loss of a connection was not logged (the kill missed?)"
# The connection FSM logs each transition at debug level: at level 0 a lost
# connection is cleaned up (IN_CLEANUP), never recovered (IN_RECOVERY).
! grep -Eq "IN_RECOVERY|removed for recovery|TASK REASSIGN|reassigned" "$ISCSIFS_LOG" ||
	fail "connection recovery of level 2 at the level 0 istgt granted"
timeout -k 10 60 cmp "$TEST_TMP/new" "$LUN" || fail "the LUN differs from what was written"
cmp "$TEST_TMP/new" "$BACKING" || fail "the backing file differs from what was written"
if grep -q "session recovered" "$ISCSIFS_LOG"; then
	path="istgt closed the other connection too and the session was reinstated"
elif grep -q "closed at the target" "$ISCSIFS_LOG"; then
	path="its commands went again on the other connection"
else
	path="it carried no command and logged in again"
fi
msg "a connection killed under writes, level 2 asked and 0 granted: $path; every write landed"
stop_iscsifs_checked
