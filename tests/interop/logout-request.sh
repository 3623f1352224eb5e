#!/usr/bin/env bash
# A target that asks for a logout (Async Message, AsyncEvent 1, RFC 7143
# 11.9.1) mid-workload: the initiator logs out as asked, logs in again, and
# every read returns the right bytes, with no error. tests/lib/fake_target.py
# --case logout-request.
set -eu
# shellcheck source-path=SCRIPTDIR source=../lib/common.sh
. "${TESTLIB:?TESTLIB must point to tests/lib}/common.sh"
# shellcheck source-path=SCRIPTDIR source=../lib/fake.sh
. "$TESTLIB/fake.sh"

require_root
require_iscsifs
require_cmd cmp dd grep python3 ss timeout

IQN=iqn.2026-11.org.iscsifs.test:logout-request
setup_tmpdir
FAKE_PORT=$(free_port) || hard_error "no free TCP port"
fake_start asker "$FAKE_PORT" --iqn "$IQN" --case logout-request --after 2

iscsifs_config "$(channel_line 0 "$FAKE_PORT" "$IQN")"
MNT=$TEST_TMP/mnt
start_iscsifs "$MNT"
LUN=$MNT/$IQN/lun0

# Sixteen 64 KiB reads, one request each; the target asks for the logout after the third.
python3 "$FAKE" --expect 0 1048576 >"$TEST_TMP/expected"
for i in $(seq 0 15); do
	timeout -k 10 60 dd if="$LUN" of="$TEST_TMP/got" bs=65536 skip="$i" seek="$i" count=1 \
		iflag=direct conv=notrunc status=none 2>"$TEST_TMP/dd.err" ||
		fail "read $i failed: $(cat "$TEST_TMP/dd.err")"
done
grep -q "asking the initiator to log out" "$FAKE_LOG" || fail "the target asked for no logout: the test did not test"
grep -q "logout (reason 0) answered" "$FAKE_LOG" || fail "the initiator did not log out when asked"
logins=$(grep -c "logged in: TSIH" "$FAKE_LOG" || true)
[ "$logins" -ge 2 ] || fail "the initiator did not log in again after the logout ($logins login(s))"
grep -q "asks for a logout; logging out and in again" "$ISCSIFS_LOG" ||
	fail "the daemon's log does not say that the target asked for the logout"
cmp "$TEST_TMP/expected" "$TEST_TMP/got" || fail "the reads returned other bytes than the LUN holds"
msg "logged out when asked, in again, and every read returned the right bytes"
stop_iscsifs_checked
