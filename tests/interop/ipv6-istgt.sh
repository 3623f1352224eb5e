#!/usr/bin/env bash
# istgt on [::1] alone: login over IPv6, seeded writes (unaligned, across block
# boundaries) read back through the LUN file, and once istgt has stopped its
# backing file holds them and nothing else changed. The connection is shown at
# [::1]:port.
set -eu
# shellcheck source-path=SCRIPTDIR source=../lib/common.sh
. "${TESTLIB:?TESTLIB must point to tests/lib}/common.sh"
# shellcheck source-path=SCRIPTDIR source=../lib/istgt.sh
. "$TESTLIB/istgt.sh"

require_root
require_iscsifs
require_ipv6_loopback
require_cmd istgt cmp cp ss timeout sync python3
require_isctl
[ -f "$TESTLIB/rwcheck.py" ] || hard_error "$TESTLIB/rwcheck.py is missing"

SEED=${RANDOM_WRITES_SEED:-20261219}
setup_tmpdir
ISTGT_ADDRS=::1
istgt_add_lun ipv6 0 32
IQN=$ISTGT_IQN
BACKING=$ISTGT_LUN_FILE
cp "$BACKING" "$TEST_TMP/expected.img"
istgt_start
PORTAL="[::1]:$ISTGT_PORT"
ss -Hltn "src $PORTAL" | grep -q . || fail "istgt does not listen on $PORTAL"
! ss -Hltn "src 127.0.0.1:$ISTGT_PORT" | grep -q . || fail "istgt listens on 127.0.0.1 too"

iscsifs_config "$(CHANNEL_ADDR=::1 channel_line 0 "$ISTGT_PORT" "$IQN")"
MNT=$TEST_TMP/mnt
start_iscsifs "$MNT"
LUN=$MNT/$IQN/lun0
timeout -k 10 30 test -f "$LUN" || fail "$LUN does not exist"
ss -Htn state established "dst $PORTAL" | grep -q . || fail "no TCP connection to $PORTAL"
timeout -k 10 30 "$ISCTL" -s "$ISCSIFS_ETC/control.sock" status >"$TEST_TMP/status.txt" ||
	fail "initiator-ctl status failed"
grep -qF "connection 0: $PORTAL, logged in" "$TEST_TMP/status.txt" ||
	fail "status does not show the connection at $PORTAL: $(cat "$TEST_TMP/status.txt")"
msg "logged in to $IQN at $PORTAL"

rwcheck() { timeout -k 10 300 python3 "$TESTLIB/rwcheck.py" "$@"; }
rwcheck write "$SEED" "$LUN" "$TEST_TMP/expected.img" || fail "writing through the LUN file failed"
timeout -k 10 120 sync || fail "sync did not finish"
drop_caches
rwcheck check "$SEED" "$TEST_TMP/expected.img" "$LUN" ||
	fail "reading back through the LUN file does not return the written data"
msg "every write reads back through the LUN file"

stop_iscsifs_checked
istgt_stop --keep-files || fail "istgt did not exit on SIGTERM"
timeout -k 10 120 cmp "$BACKING" "$TEST_TMP/expected.img" ||
	fail "istgt's backing file differs from the expected image"
msg "istgt's backing file holds every write over $PORTAL and nothing else changed"
