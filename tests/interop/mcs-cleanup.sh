#!/usr/bin/env bash
# MC/S recovery by the book: tests/lib/fake_target.py (case mcs-lose-conn) lets a
# session have two connections, then closes the first one with a READ unanswered
# while the second stays. The daemon must keep the session (no reinstatement),
# close the lost connection at the target with a Logout "close the connection"
# for its CID on the surviving one, send the unanswered READ again there, log the
# lost connection in again, and every byte read must be right. Then the same cut
# announced by the target (AsyncEvent 2 with its own DefaultTime2Wait), which
# the lost connection must wait before it logs in again.
set -eu
# shellcheck source-path=SCRIPTDIR source=../lib/common.sh
. "${TESTLIB:?TESTLIB must point to tests/lib}/common.sh"
# shellcheck source-path=SCRIPTDIR source=../lib/fake.sh
. "$TESTLIB/fake.sh"

require_root
require_iscsifs
require_cmd python3 cmp dd grep ss timeout
require_isctl

IQN=iqn.2026-11.org.iscsifs.test:mcs-fake
setup_tmpdir

PORT=$(free_port) || hard_error "no free TCP port"
FAKE_LOG=$TEST_TMP/fake.log
timeout -k 5 300 python3 "$FAKE" --port "$PORT" --iqn "$IQN" --case mcs-lose-conn --after 4 \
	--size-mib 4 --lifetime 240 2>"$FAKE_LOG" &
FAKE_PID=$!
defer "kill $FAKE_PID 2>/dev/null || true"
show_on_failure "$FAKE_LOG"
listening() { ss -Hltn "sport = :$PORT" | grep -q .; }
wait_for 10 listening || fail "the fake target does not listen on $PORT"

# One line, two connections to the same portal.
iscsifs_config "0 2 127.0.0.1 $PORT 0 AuthMethod=None nopout_timeout=5 $IQN"
MNT=$TEST_TMP/mnt
start_iscsifs "$MNT"
export ISCSIFS_CONTROL_SOCKET=$ISCSIFS_ETC/control.sock
ctl() { timeout -k 10 60 "$ISCTL" "$@"; }
joined() { grep -q "connection 1 joined the session" "$ISCSIFS_LOG"; }
wait_for 10 joined || fail "the second connection did not join the session"

python3 "$FAKE" --expect 0 $((4 << 20)) >"$TEST_TMP/expected"
# Small direct reads, so that both connections carry some before the cut.
timeout -k 10 120 dd if="$MNT/$IQN/lun0" of="$TEST_TMP/got" bs=64k iflag=direct status=none ||
	fail "reading the LUN failed"
cmp "$TEST_TMP/expected" "$TEST_TMP/got" || fail "the LUN read back wrong"
grep -q "closed by the target with READ" "$FAKE_LOG" ||
	fail "the fake target never closed the first connection (did it carry READs?)"

grep -Eq "connection 0 to 127.0.0.1:$PORT lost: .*; 1 connection\(s\) carry on" "$ISCSIFS_LOG" ||
	fail "the loss of connection 0 was not logged as such"
grep -q "logout of connection 0 (reason 1) answered" "$FAKE_LOG" ||
	fail "no Logout closing connection 0 reached the target"
grep -Eq "connection 0 closed at the target; [0-9]+ command\(s\) retried and [1-9][0-9]* sent again" \
	"$ISCSIFS_LOG" || fail "the unanswered READ was not sent again on the other connection"
! grep -q "recovering the session\|session recovered" "$ISCSIFS_LOG" ||
	fail "the session was reinstated although a connection survived"
both() {
	ctl status --json | python3 -c '
import json, sys
c = json.load(sys.stdin)["channels"][0]["connections"]
sys.exit(0 if [x["state"] for x in c] == ["logged in", "logged in"] else 1)'
}
wait_for 20 both || fail "connection 0 did not log in again: $(ctl status)"
msg "$(grep -E "lost|closed at the target|joined" "$ISCSIFS_LOG" | cut -c1-160)"
stop_iscsifs_checked
msg "a lost connection was closed at the target, its READ went on the other, and it came back"

# The same cut, announced: before closing the first connection the target says
# so (AsyncEvent 2 for its CID) and asks for 5 s before it comes back (2 s were
# negotiated). The daemon keeps the session on the other connection, and logs
# the first one in again no sooner than the notice asks.
PORT2=$(free_port) || hard_error "no free TCP port"
fake_start notice "$PORT2" --iqn "$IQN" --case mcs-drop-notice --after 4 --size-mib 4
FAKE_LOG2=$FAKE_LOG
iscsifs_config "0 2 127.0.0.1 $PORT2 0 AuthMethod=None nopout_timeout=5 $IQN"
start_iscsifs "$MNT"
wait_for 10 joined || fail "notice: the second connection did not join the session"
timeout -k 10 120 dd if="$MNT/$IQN/lun0" of="$TEST_TMP/got" bs=64k iflag=direct status=none ||
	fail "notice: reading the LUN failed"
cmp "$TEST_TMP/expected" "$TEST_TMP/got" || fail "notice: the LUN read back wrong"
grep -q "AsyncEvent 2: dropping the connection" "$FAKE_LOG2" ||
	fail "notice: the fake target never announced the drop: the test did not test"
grep -q "will drop connection 0; 5 s before it logs in again" "$ISCSIFS_LOG" ||
	fail "notice: the daemon's log does not take the target's notice for connection 0"
! grep -q "recovering the session\|session recovered" "$ISCSIFS_LOG" ||
	fail "notice: the session was reinstated although a connection survived"
wait_for 20 both || fail "notice: connection 0 did not log in again: $(ctl status)"
gap=$(fake_relogin_gap "$FAKE_LOG2")
at_least "$gap" 4.0 ||
	fail "notice: connection 0 logged in again $gap s after the drop; the target asked for 5 (2 negotiated)"
stop_iscsifs_checked
msg "an announced cut: the session stayed on connection 1 and connection 0 came back $gap s later (5 asked)"
