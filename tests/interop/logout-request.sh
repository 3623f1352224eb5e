#!/usr/bin/env bash
# A target that asks for a logout (Async Message, AsyncEvent 1, RFC 7143
# 11.9.1) mid-workload: the initiator logs out as asked, logs in again, and
# every read returns the right bytes, with no error. tests/lib/fake_target.py
# --case logout-request. Then one that asks for parameter negotiation
# (AsyncEvent 4), which the initiator must meet with a Text Request or a
# Logout: the same logout and login again (which negotiates everything anew).
# Last, one that says it drops the connection (AsyncEvent 2) and gives the
# wait before the next login: the daemon waits that long, not the negotiated
# DefaultTime2Wait, and the reads go on without an error.
set -eu
# shellcheck source-path=SCRIPTDIR source=../lib/common.sh
. "${TESTLIB:?TESTLIB must point to tests/lib}/common.sh"
# shellcheck source-path=SCRIPTDIR source=../lib/fake.sh
. "$TESTLIB/fake.sh"

require_root
require_iscsifs
require_cmd cmp dd grep python3 ss timeout

setup_tmpdir

# reads CASE: the fake target with --case CASE, a daemon on it, and sixteen
# 64 KiB reads (one request each) that must all return the LUN's bytes; the
# target acts after the third.
reads() {
	local iqn=iqn.2026-11.org.iscsifs.test:$1 port
	port=$(free_port) || hard_error "no free TCP port"
	fake_start "$1" "$port" --iqn "$iqn" --case "$1" --after 2
	iscsifs_config "$(channel_line 0 "$port" "$iqn")"
	start_iscsifs "$TEST_TMP/mnt-$1"
	python3 "$FAKE" --expect 0 1048576 >"$TEST_TMP/expected"
	rm -f "$TEST_TMP/got"
	for i in $(seq 0 15); do
		timeout -k 10 60 dd if="$TEST_TMP/mnt-$1/$iqn/lun0" of="$TEST_TMP/got" bs=65536 \
			skip="$i" seek="$i" count=1 iflag=direct conv=notrunc status=none \
			2>"$TEST_TMP/dd.err" || fail "$1: read $i failed: $(cat "$TEST_TMP/dd.err")"
	done
	cmp "$TEST_TMP/expected" "$TEST_TMP/got" || fail "$1: the reads returned other bytes than the LUN holds"
}

# run CASE ASKED: the target asks (AsyncEvent 1 or 4); the daemon must log
# out, log in again and say in its log that the target asked for ASKED.
run() {
	local logins
	reads "$1"
	grep -q "asking the initiator to" "$FAKE_LOG" || fail "$1: the target asked nothing: the test did not test"
	grep -q "logout (reason 0) answered" "$FAKE_LOG" || fail "$1: the initiator did not log out when asked"
	logins=$(grep -c "logged in: TSIH" "$FAKE_LOG" || true)
	[ "$logins" -ge 2 ] || fail "$1: the initiator did not log in again after the logout ($logins login(s))"
	grep -q "asks for $2; logging out and in again" "$ISCSIFS_LOG" ||
		fail "$1: the daemon's log does not say that the target asked for $2"
	stop_iscsifs_checked
}

run logout-request "a logout"
msg "AsyncEvent 1: logged out when asked, in again, and every read returned the right bytes"
run renegotiate-request "parameter negotiation"
msg "AsyncEvent 4: answered with a logout and a new login (which negotiates afresh), every read right"

# AsyncEvent 2: the target drops the connection and asks for 5 s (its
# DefaultTime2Wait for this once; 2 s was negotiated) before the next login.
reads drop-notice
grep -q "will drop the session's connections; 5 s before logging in again" "$ISCSIFS_LOG" ||
	fail "drop-notice: the daemon's log does not take the target's notice"
gap=$(fake_relogin_gap "$FAKE_LOG")
at_least "$gap" 4.0 ||
	fail "drop-notice: logged in again $gap s after the drop; the target asked for 5 (2 negotiated)"
stop_iscsifs_checked
msg "AsyncEvent 2: logged in again $gap s after the drop (the target asked for 5), every read right"
