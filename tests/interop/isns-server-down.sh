#!/usr/bin/env bash
# With the iSNS server down, a channel with its own portal still starts and serves its LUN,
# and the log says why discovery failed; a channel that needs iSNS for its portal fails with
# that reason; and once the server is up the daemon registers on its own.
set -eu
# shellcheck source-path=SCRIPTDIR source=../lib/common.sh
. "${TESTLIB:?TESTLIB must point to tests/lib}/common.sh"
# shellcheck source-path=SCRIPTDIR source=../lib/target.sh
. "$TESTLIB/target.sh"
# shellcheck source-path=SCRIPTDIR source=../lib/isns.sh
. "$TESTLIB/isns.sh"

require_root
require_iscsifs
require_cmd cmp timeout
require_isctl

IQN=iqn.2026-11.org.iscsifs.test:isns-down
NOWHERE=iqn.2026-11.org.iscsifs.test:isns-nowhere
setup_tmpdir
tgt_start
tgt_add_target 1 "$IQN"
tgt_add_lun 1 1 8
tgt_bind 1
ISNS_PORT=$(free_port)
port_listening "$ISNS_PORT" && hard_error "free_port gave a port in use"
ctl() { timeout -k 10 60 "$ISCTL" -s "$ISCSIFS_ETC/control.sock" "$@"; }
why="iSNS discovery failed: iSNS server 127.0.0.1:$ISNS_PORT cannot be reached: Connection refused"

# A daemon that starts its channels: the explicit one comes up, the reason is in the log.
iscsifs_config "$(channel_line 0 "$TGT_PORT" "$IQN")"
printf 'ISNS="127.0.0.1 %s query_interval=2"\n' "$ISNS_PORT" >>"$ISCSIFS_ETC/initiator"
ISCSIFS_LOG_LEVEL='' start_iscsifs "$TEST_TMP/mnt1"
timeout -k 10 60 cmp "$ISCSIFS_MNT/$IQN/lun1" "$(tgt_lun_file 1 1)" ||
	fail "lun1 differs from its backing file"
grep -F "$why" "$ISCSIFS_LOG" || fail "the log does not say why discovery failed"
msg "explicit channel started with the iSNS server down; the log says why"
if ctl discover >"$TEST_TMP/discover.out" 2>&1; then
	fail "discover succeeded with the server down"
fi
cat "$TEST_TMP/discover.out"
grep -qF "cannot be reached" "$TEST_TMP/discover.out" || fail "discover does not say why it failed"
stop_iscsifs_checked

# A channel that needs iSNS for its portal fails with the reason, the other one starts.
iscsifs_config "$(channel_line 0 "$TGT_PORT" "$IQN")" \
	"1 1 isns 0 0 AuthMethod=None nopout_timeout=5 $NOWHERE"
printf 'ISNS="127.0.0.1 %s query_interval=2"\n' "$ISNS_PORT" >>"$ISCSIFS_ETC/initiator"
start_iscsifs "$TEST_TMP/mnt2" --idle
ctl start 0 || fail "channel 0 did not start"
if ctl start 1 >"$TEST_TMP/start1.out" 2>&1; then
	fail "channel 1 started without a portal"
fi
cat "$TEST_TMP/start1.out"
grep -qF "ch1: no portal for $NOWHERE from iSNS: iSNS server 127.0.0.1:$ISNS_PORT cannot be reached" \
	"$TEST_TMP/start1.out" || fail "the iSNS-only channel failed without the reason"

# The server comes up: the daemon registers by itself within a few query intervals.
registered() { ctl status 2>/dev/null | grep -qF "iSNS server 127.0.0.1:$ISNS_PORT: registered"; }
if command -v isnsd >/dev/null 2>&1 && command -v isnsadm >/dev/null 2>&1; then
	ISNSD_FIXED_PORT=$ISNS_PORT isnsd_start
	wait_for 20 registered || fail "not registered 20 s after the iSNS server came up"
	isns_has_node "$TEST_INITIATOR_IQN" || fail "isnsd does not list the initiator"
	msg "registered once the iSNS server came up"
else
	msg "no isnsd/isnsadm here: not checking the registration once the server is up"
fi
stop_iscsifs_checked
