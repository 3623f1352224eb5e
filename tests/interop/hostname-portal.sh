#!/usr/bin/env bash
# A portal given by host name, looked up at every login: an /etc/hosts entry
# this test adds (and puts back exactly as it was at the end, pass or fail) maps
# the name to 127.0.0.1; tgtd listens on 127.0.0.1 and [::1]. iscsifs --check
# accepts the line and warns about a name that does not resolve; the daemon logs
# in through the name. The target then "moves" to ::1: after a pause and start
# the connection goes to [::1]. With the name gone, a reconnection after a
# target crash fails with the resolver's reason and is retried; once the name is
# back it succeeds and I/O goes on. The bytes read and written are checked
# against the backing file throughout.
set -eu
# shellcheck source-path=SCRIPTDIR source=../lib/common.sh
. "${TESTLIB:?TESTLIB must point to tests/lib}/common.sh"
# shellcheck source-path=SCRIPTDIR source=../lib/target.sh
. "$TESTLIB/target.sh"

require_root
require_iscsifs
require_ipv6_loopback
require_cmd cmp dd ss getent timeout
require_isctl
[ -w /etc/hosts ] || skip "/etc/hosts is not writable here"

IQN=iqn.2026-11.org.iscsifs.test:hostname
NAME=iscsifs-test-target-$$
setup_tmpdir
cp -p /etc/hosts "$TEST_TMP/hosts.before"
tgt_start
tgt_add_portal ::1
tgt_add_target 1 "$IQN"
tgt_add_lun 1 1 16
tgt_bind 1
BACKING=$(tgt_lun_file 1 1)

hosts_add "$NAME" 127.0.0.1
[ "$(getent ahostsv4 "$NAME" | awk 'NR == 1 { print $1 }')" = 127.0.0.1 ] ||
	fail "$NAME does not resolve to 127.0.0.1 after adding it to /etc/hosts"

ATTRS="nopout_timeout=2;nopout_response_timeout=3;replacement_timeout=120"
iscsifs_config "0 1 $NAME $TGT_PORT 0 AuthMethod=None $ATTRS $IQN"

# --check: the line is fine; a name that does not resolve now is a warning, not an error.
check() {
	rc=0
	timeout -k 10 60 "$ISCSIFS" --check --config="$ISCSIFS_ETC/iscsifs.conf" \
		--initiator="$1" --auth="$ISCSIFS_ETC/initiator_auth" \
		--maps="$ISCSIFS_ETC/iscsi_device_maps" \
		--initiatorname="$ISCSIFS_ETC/initiatorname.iscsi" "$TEST_TMP/nomount" \
		>"$TEST_TMP/check.out" 2>"$TEST_TMP/check.err" || rc=$?
}
check "$ISCSIFS_ETC/initiator"
[ "$rc" -eq 0 ] || fail "iscsifs --check refused the host name: $(cat "$TEST_TMP/check.err")"
[ ! -s "$TEST_TMP/check.err" ] || fail "iscsifs --check warned: $(cat "$TEST_TMP/check.err")"
GONE=$NAME-gone.invalid
cp "$ISCSIFS_ETC/initiator" "$TEST_TMP/initiator.gone"
printf 'CHANNEL="1 1 %s %s 0"\n' "$GONE" "$TGT_PORT" >>"$TEST_TMP/initiator.gone"
check "$TEST_TMP/initiator.gone"
[ "$rc" -eq 0 ] || fail "iscsifs --check refused a name that does not resolve: $(cat "$TEST_TMP/check.err")"
grep -qF "warning: $TEST_TMP/initiator.gone:2: '$GONE' does not resolve" "$TEST_TMP/check.err" ||
	fail "iscsifs --check does not warn about $GONE with file:line: $(cat "$TEST_TMP/check.err")"
msg "iscsifs --check: $NAME accepted, $GONE warned about"

MNT=$TEST_TMP/mnt
start_iscsifs "$MNT"
LUN=$MNT/$IQN/lun1
ctl() { timeout -k 10 60 "$ISCTL" -s "$ISCSIFS_ETC/control.sock" "$@"; }
connected_to() { ss -Htn state established "dst $1" | grep -q .; }

# write_check OFFSET: random bytes through the LUN file at OFFSET (64 KiB blocks),
# then the same bytes in the backing file.
write_check() {
	head -c 65536 /dev/urandom >"$TEST_TMP/data"
	timeout -k 10 60 dd if="$TEST_TMP/data" of="$LUN" bs=64k seek="$1" conv=notrunc,fsync \
		status=none || fail "writing block $1 of $LUN failed"
	timeout -k 10 60 cmp "$TEST_TMP/data" <(dd if="$BACKING" bs=64k skip="$1" count=1 status=none) ||
		fail "the backing file does not hold what was written at block $1"
}

timeout -k 10 60 cmp "$LUN" "$BACKING" || fail "lun1 does not read as its backing file"
write_check 3
connected_to "127.0.0.1:$TGT_PORT" || fail "no connection to 127.0.0.1:$TGT_PORT"
ctl status >"$TEST_TMP/status.txt"
grep -qF "portal $NAME:$TGT_PORT" "$TEST_TMP/status.txt" || fail "status does not show portal $NAME:$TGT_PORT"
grep -qF "$NAME answered at 127.0.0.1:$TGT_PORT" "$ISCSIFS_LOG" || fail "the log does not say where $NAME answered"
msg "logged in through $NAME (127.0.0.1)"

# The target moves to ::1: the next login follows it.
hosts_add "$NAME" ::1
ctl pause 0 || fail "initiator-ctl pause 0 failed"
ctl start 0 || fail "initiator-ctl start 0 failed"
connected_to "[::1]:$TGT_PORT" || fail "no connection to [::1]:$TGT_PORT after the name moved"
! connected_to "127.0.0.1:$TGT_PORT" || fail "still a connection to 127.0.0.1:$TGT_PORT"
write_check 9
grep -qF "$NAME answered at [::1]:$TGT_PORT" "$ISCSIFS_LOG" || fail "the log does not say $NAME answered at [::1]"
msg "$NAME moved to ::1 and the login after the pause went there"

# The name goes away while the target crashes: reconnecting fails with the reason, and goes on.
hosts_add "$NAME"
tgt_crash
failed_resolving() { grep -q "reconnect attempt [0-9]* to $IQN failed: connect to $NAME:$TGT_PORT: '$NAME' does not resolve" "$ISCSIFS_LOG"; }
wait_for 60 failed_resolving || fail "no reconnect attempt failed for want of $NAME"
msg "reconnecting fails while $NAME does not resolve: $(grep -o "'$NAME' does not resolve: .*; next in" "$ISCSIFS_LOG" | tail -n 1)"
tgt_revive
hosts_add "$NAME" ::1
recovered() { grep -q "session recovered" "$ISCSIFS_LOG"; }
wait_for 60 recovered || fail "the session did not recover once $NAME resolved again"
write_check 15
drop_caches
timeout -k 10 60 cmp "$LUN" "$BACKING" || fail "lun1 differs from its backing file after recovery"
msg "the session recovered through $NAME once it resolved again"

stop_iscsifs_checked
hosts_restore || fail "hosts_restore failed"
cmp "$TEST_TMP/hosts.before" /etc/hosts || fail "/etc/hosts is not as it was"
[ "$(stat -c '%a %u %g' /etc/hosts)" = "$(stat -c '%a %u %g' "$TEST_TMP/hosts.before")" ] ||
	fail "/etc/hosts lost its mode or owner"
msg "/etc/hosts is back as it was"
