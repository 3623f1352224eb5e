#!/usr/bin/env bash
# MC/S trunking (the howto's "Trunking" scenario): istgt (MaxConnections 4)
# runs in a network namespace this test creates, reached through two veth
# links. One channel with two CHANNEL lines, one per link, each bound to its
# device, logs in one session with two connections; status shows both. A
# verified write workload runs while the test takes one link down: the
# workload goes on over the other link without an error, and once the link is
# back the lost connection joins the session again. Every acknowledged write is
# in the backing file at the end.
#
# What happens in between depends on the target: the initiator logs the lost
# connection out with a Logout for its CID on the surviving one (RFC 7143
# 11.14), but istgt closes whichever connection carries a Logout, so here the
# session is then reinstated through the surviving portal. Either way no I/O
# fails; the test prints which path was taken.
set -eu
# shellcheck source-path=SCRIPTDIR source=../lib/common.sh
. "${TESTLIB:?TESTLIB must point to tests/lib}/common.sh"
# shellcheck source-path=SCRIPTDIR source=../lib/istgt.sh
. "$TESTLIB/istgt.sh"

require_root
require_iscsifs
require_cmd ip ss cmp grep python3 timeout
require_isctl

setup_tmpdir
# Two links, with addresses that exist only on them, inside this test's own namespace.
netns_links mcs 214 2

ISTGT_NETNS=$NS
ISTGT_ADDRS="$NET1.2 $NET2.2"
istgt_add_lun mcs 0 24
istgt_start
IQN=$ISTGT_IQN
BACKING=$ISTGT_LUN_FILE

ATTRS="nopout_timeout=2;nopout_response_timeout=3"
iscsifs_config "0 1 $VH1 $NET1.2 $ISTGT_PORT 0 AuthMethod=None $ATTRS $IQN" \
	"0 1 $VH2 $NET2.2 $ISTGT_PORT 0 AuthMethod=None $ATTRS $IQN"
MNT=$TEST_TMP/mnt
start_iscsifs "$MNT"
export ISCSIFS_CONTROL_SOCKET=$ISCSIFS_ETC/control.sock
ctl() { timeout -k 10 60 "$ISCTL" "$@"; }

# conns STATE STATE: the two connections' states, in CID order, as status
# --json gives them; also checks that they go through the two links.
conns() {
	ctl status --json >"$TEST_TMP/status.json" 2>/dev/null || return 1
	python3 - "$TEST_TMP/status.json" "$1" "$2" "$NET1.2:$ISTGT_PORT" "$NET2.2:$ISTGT_PORT" \
		"$VH1" "$VH2" <<'EOF'
import json, sys
path, s0, s1, p0, p1, d0, d1 = sys.argv[1:]
ch = json.load(open(path))["channels"][0]
c = ch["connections"]
ok = (len(c) == 2 and [x["state"] for x in c] == [s0, s1] and
      [x["portal"] for x in c] == [p0, p1] and [x["netdev"] for x in c] == [d0, d1] and
      [x["cid"] for x in c] == [0, 1])
sys.exit(0 if ok else 1)
EOF
}

wait_for 20 conns "logged in" "logged in" ||
	fail "status does not show two logged-in connections, one per link: $(cat "$TEST_TMP/status.json")"
ctl status >"$TEST_TMP/status.txt"
show_on_failure "$TEST_TMP/status.txt"
grep -q "connection 1: $NET2.2:$ISTGT_PORT via $VH2, logged in" "$TEST_TMP/status.txt" ||
	fail "initiator-ctl status does not show connection 1 via $VH2"
grep -q "joined the session at $NET2.2:$ISTGT_PORT via $VH2" "$ISCSIFS_LOG" ||
	fail "the log does not show connection 1 joining the session"
msg "one session, two connections: $NET1.2 via $VH1 and $NET2.2 via $VH2"

# Each connection is bound to its device: the kernel's sockets say so.
ss -Htn "dst $NET1.2" | grep -q ESTAB || fail "no TCP connection to $NET1.2"
ss -Htn "dst $NET2.2" | grep -q ESTAB || fail "no TCP connection to $NET2.2"

# istgt behind veth is quick: the workload must not run out of passes.
WORKLOAD_MAX_PASSES=1000000 start_workload "$MNT/$IQN/lun0" 16 2
# Both connections carry commands.
sent() {
	ctl status --json | python3 -c '
import json, sys
c = json.load(sys.stdin)["channels"][0]["connections"]
sys.exit(0 if all(x["commands_sent"] > 10 for x in c) else 1)'
}
wait_for 30 sent || fail "the commands do not go over both connections: $(ctl status --json)"

ip link set "$VH1" down
msg "link 1 down"
lost() { grep -q "connection 0 to $NET1.2:$ISTGT_PORT lost" "$ISCSIFS_LOG"; }
wait_for 15 lost || fail "the loss of connection 0 was not logged"
wait_more_passes 1
msg "the workload went on over connection 1 with link 1 down"
conns down "logged in" || conns "logging in" "logged in" ||
	fail "status does not show connection 0 down and 1 up: $(cat "$TEST_TMP/status.json")"
if grep -q "session recovered" "$ISCSIFS_LOG"; then
	msg "the session was reinstated through link 2 (the target dropped the survivor too)"
else
	msg "connection 1 carried the session alone"
fi

ip link set "$VH1" up
msg "link 1 up again"
wait_for 60 conns "logged in" "logged in" ||
	fail "connection 0 did not join the session again: $(cat "$TEST_TMP/status.json")"
wait_more_passes 1
finish_workload
msg "what the daemon logged about its connections:"
grep -E "connection [0-9]|closed at the target|recover|joined|logged in to" "$ISCSIFS_LOG" |
	cut -c1-200 | sed 's/^/    /' || true
stop_iscsifs_checked
istgt_stop --keep-files || true
cmp -n $((16 << 20)) "$TEST_TMP/expected" "$BACKING" || fail "the backing file lacks acknowledged writes"
msg "no error and no lost write with one of two links cut and restored"
