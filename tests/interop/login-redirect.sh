#!/usr/bin/env bash
# Login redirection (RFC 7143 11.13.5): a portal that answers "moved temporarily"
# with a TargetAddress sends the initiator to the real portal, and the LUN reads
# there; a portal that redirects to itself ends the login after a few hops, with
# the reason, and nothing is mounted. Two scripted targets (tests/lib/fake_target.py).
set -eu
# shellcheck source-path=SCRIPTDIR source=../lib/common.sh
. "${TESTLIB:?TESTLIB must point to tests/lib}/common.sh"
# shellcheck source-path=SCRIPTDIR source=../lib/fake.sh
. "$TESTLIB/fake.sh"

require_root
require_iscsifs
require_cmd cmp dd grep python3 ss timeout

IQN=iqn.2026-11.org.iscsifs.test:redirected
setup_tmpdir

REAL_PORT=$(free_port) || hard_error "no free TCP port"
fake_start real "$REAL_PORT" --iqn "$IQN"
FRONT_PORT=$(free_port) || hard_error "no free TCP port"
fake_start front "$FRONT_PORT" --iqn "$IQN" --redirect "127.0.0.1:$REAL_PORT"

iscsifs_config "$(channel_line 0 "$FRONT_PORT" "$IQN")"
MNT=$TEST_TMP/mnt
start_iscsifs "$MNT"
grep -q "redirecting the login" "$TEST_TMP/fake.front.log" || fail "the front portal redirected nothing"
grep -q "following it to 127.0.0.1:$REAL_PORT" "$ISCSIFS_LOG" || fail "the log does not say where the login went"
grep -q "logged in" "$TEST_TMP/fake.real.log" || fail "the login did not reach the real portal"
python3 "$FAKE" --expect 0 131072 >"$TEST_TMP/expected"
timeout -k 10 60 dd if="$MNT/$IQN/lun0" of="$TEST_TMP/got" bs=65536 count=2 iflag=direct status=none ||
	fail "reading the LUN through the redirected session failed"
cmp "$TEST_TMP/expected" "$TEST_TMP/got" || fail "the LUN read other bytes than the target holds"
msg "the login followed the redirection and the LUN reads as it should"
stop_iscsifs_checked

LOOP_PORT=$(free_port) || hard_error "no free TCP port"
fake_start loop "$LOOP_PORT" --iqn "$IQN" --redirect "127.0.0.1:$LOOP_PORT"
iscsifs_config "$(channel_line 0 "$LOOP_PORT" "$IQN")"
st=0
iscsifs_spawn "$MNT"
wait_iscsifs_exit 60 || st=$?
[ "$st" -ne 124 ] || fail "a portal that redirects to itself keeps the daemon logging in"
[ "$st" -ne 0 ] || fail "the daemon started although no login could succeed"
! is_mounted "$MNT" || fail "mounted although no login succeeded"
grep -q "login redirected" "$ISCSIFS_LOG" || fail "the log does not say that the login was redirected"
hops=$(grep -c "redirecting the login" "$TEST_TMP/fake.loop.log" || true)
[ "$hops" -le 8 ] || fail "the initiator followed $hops redirections"
msg "a redirection loop ends the login after $hops hops, with the reason"
