#!/usr/bin/env bash
# ErrorRecoveryLevel against tgtd. A channel at the default level negotiates 0,
# as before. A channel that asks for 2 gets what tgtd grants: its own default
# answer, and 2 once the target is configured with ErrorRecoveryLevel 2. Each
# logs in, gives the level granted in its log line and in initiator-ctl status
# (text and JSON, with the level asked for), and its LUN reads as its backing
# file and takes seeded unaligned writes byte for byte. Nothing is lost on the
# way, so no recovery may happen: no SNACK, no command sent again.
#
# Then a session of two connections at level 2, one of them killed (ss -K)
# under a write workload. tgtd answers the Logout "remove the connection for
# recovery" with Time2Retain 0 (it keeps no task for reassignment) and closes
# the connection that carried it, so the commands go again as at level 0 and
# the session is reinstated; whichever path is taken, no write fails and
# every byte lands. The test prints the path.
set -eu
# shellcheck source-path=SCRIPTDIR source=../lib/common.sh
. "${TESTLIB:?TESTLIB must point to tests/lib}/common.sh"
# shellcheck source-path=SCRIPTDIR source=../lib/target.sh
. "$TESTLIB/target.sh"

require_root
require_iscsifs
require_cmd cmp cp dd grep head python3 ss timeout
require_isctl

IQN=iqn.2026-11.org.iscsifs.test:erl
setup_tmpdir
tgt_start
for tid in 1 2 3; do
	tgt_add_target "$tid" "$IQN$tid"
	tgt_add_lun "$tid" 1 16
	tgt_bind "$tid"
done
tgt_adm --op update --mode target --tid 3 --name ErrorRecoveryLevel --value 2 ||
	fail "tgtadm: cannot set ErrorRecoveryLevel=2 on target 3"

line() { # line ID TID KEYS
	CHANNEL_KEYS=$3 channel_line "$1" "$TGT_PORT" "$IQN$2"
}
iscsifs_config "$(line 0 1 AuthMethod=None)" \
	"$(line 1 2 "AuthMethod=None;ErrorRecoveryLevel=2")" \
	"$(line 2 3 "AuthMethod=None;ErrorRecoveryLevel=2")"
MNT=$TEST_TMP/mnt
start_iscsifs "$MNT"
export ISCSIFS_CONTROL_SOCKET=$ISCSIFS_ETC/control.sock
ctl() { timeout -k 10 60 "$ISCTL" "$@"; }

# granted CHANNEL: the level its login line gives.
granted() {
	sed -n "s/.*ch$1: logged in to .*ErrorRecoveryLevel \([0-2]\)).*/\1/p" "$ISCSIFS_LOG" | head -n 1
}
erl0=$(granted 0)
erl1=$(granted 1)
erl2=$(granted 2)
[ "$erl0" = 0 ] || fail "the channel at the default level logged in at level '${erl0:-?}'"
[ -n "$erl1" ] || fail "channel 1's login line gives no ErrorRecoveryLevel"
[ "$erl2" = 2 ] || fail "tgtd configured with ErrorRecoveryLevel 2 granted '${erl2:-?}' to an offer of 2"
if [ "$erl1" -lt 2 ]; then
	grep -q "ch1: ErrorRecoveryLevel 2 asked for, $IQN""2 grants $erl1" "$ISCSIFS_LOG" ||
		fail "no warning that tgtd granted $erl1 of the 2 asked for"
fi
ctl status --json >"$TEST_TMP/status.json" || fail "initiator-ctl status --json failed"
python3 - "$TEST_TMP/status.json" "$erl0:0" "$erl1:2" "$erl2:2" <<'PY' || fail "status --json does not give the levels granted and asked for"
import json, sys
chans = json.load(open(sys.argv[1]))["channels"]
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
grep -q "error recovery: level 2 (2 asked)" "$TEST_TMP/status.txt" ||
	fail "status does not give channel 2's level: $(cat "$TEST_TMP/status.txt")"
! grep -A3 "^channel 0" "$TEST_TMP/status.txt" | grep -q "error recovery:" ||
	fail "status gives error recovery for the channel at the default level"

for tid in 1 2 3; do
	lun=$MNT/$IQN$tid/lun1
	backing=$(tgt_lun_file "$tid" 1)
	timeout -k 10 60 cmp "$lun" "$backing" || fail "target $tid: the LUN does not read as its backing file"
	cp "$backing" "$TEST_TMP/expected$tid"
	timeout -k 10 120 python3 "$TESTLIB/rwcheck.py" write "$tid" "$lun" "$TEST_TMP/expected$tid" ||
		fail "target $tid: the writes failed"
	timeout -k 10 60 python3 "$TESTLIB/rwcheck.py" check "$tid" "$TEST_TMP/expected$tid" "$lun" \
		"$backing" || fail "target $tid: written regions differ"
	cmp "$TEST_TMP/expected$tid" "$backing" || fail "target $tid: stray bytes in the backing file"
done
! grep -Eq "asking for (it|them) again|sending it again|TASK REASSIGN" "$ISCSIFS_LOG" ||
	fail "recovery happened although nothing was lost"
msg "ErrorRecoveryLevel granted by tgtd: $erl0 by default, $erl1 to an offer of 2, $erl2 when configured for 2; data intact"
stop_iscsifs_checked

# Two connections at level 2, one killed under writes.
tgt_adm --op update --mode target --tid 3 --name MaxConnections --value 2 ||
	fail "tgtadm: cannot set MaxConnections=2 on target 3"
iscsifs_config "2 2 127.0.0.1 $TGT_PORT 0 AuthMethod=None;ErrorRecoveryLevel=2;DefaultTime2Wait=0 nopout_timeout=5 ${IQN}3"
start_iscsifs "$MNT"
joined() { grep -q "connection 1 joined the session" "$ISCSIFS_LOG"; }
wait_for 10 joined || fail "the second connection did not join the session"
LUN=$MNT/${IQN}3/lun1
BACKING=$(tgt_lun_file 3 1)
# Two writers on the two halves, 1 MiB direct writes, so that both connections
# carry writes when one is killed.
head -c $((16 << 20)) /dev/urandom >"$TEST_TMP/new"
writer() { # writer HALF: until the test says stop (200 rounds at most)
	local round
	for ((round = 0; round < 200; round++)); do
		[ ! -e "$TEST_TMP/stop" ] || return 0
		timeout -k 10 120 dd if="$TEST_TMP/new" of="$LUN" bs=1M count=8 skip=$(($1 * 8)) \
			seek=$(($1 * 8)) oflag=direct conv=notrunc status=none || return 1
	done
}
writer 0 >"$TEST_TMP/writer0.log" 2>&1 &
W0=$!
writer 1 >"$TEST_TMP/writer1.log" 2>&1 &
W1=$!
defer "kill $W0 $W1 2>/dev/null || true"
show_on_failure "$TEST_TMP/writer0.log"
show_on_failure "$TEST_TMP/writer1.log"
sleep 1
# Both connections go to the same portal: kill the second by its local port.
victim=$(ss -Htn state established "dport = :$TGT_PORT" | awk 'NR == 2 { n = split($3, a, ":"); print a[n] }')
[ -n "$victim" ] || fail "no second connection to kill"
ss -K -Htn state established "dport = :$TGT_PORT" "sport = :$victim" >/dev/null ||
	fail "ss -K could not kill the connection from port $victim"
sleep 3
touch "$TEST_TMP/stop"
wait "$W0" || fail "a write of the first writer failed after a connection was killed"
wait "$W1" || fail "a write of the second writer failed after a connection was killed"
grep -q "lost: .*connection(s) carry on" "$ISCSIFS_LOG" ||
	fail "the loss of a connection was not logged (the kill missed?)"
timeout -k 10 60 cmp "$TEST_TMP/new" "$LUN" || fail "the LUN differs from what was written"
cmp "$TEST_TMP/new" "$BACKING" || fail "the backing file differs from what was written"
if grep -q "session recovered" "$ISCSIFS_LOG"; then
	path="tgtd closed the other connection too and the session was reinstated"
elif grep -q "TASK REASSIGN of command" "$ISCSIFS_LOG"; then
	path="its commands were reassigned ($(grep -c "not reassigned" "$ISCSIFS_LOG") refused)"
elif grep -q "closed at the target" "$ISCSIFS_LOG"; then
	path="its commands went again on the other connection"
else
	path="it carried no command and logged in again"
fi
msg "a connection killed under writes at level 2: $path; every write landed"
stop_iscsifs_checked
