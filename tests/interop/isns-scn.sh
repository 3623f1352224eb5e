#!/usr/bin/env bash
# A target that registers with iSNS while the daemon runs appears in its discovery list, and
# one that leaves disappears, without a restart: isnsd's state change notification of the new
# target reaches the initiator, the periodic query (5 s here) catches what an SCN misses, and
# initiator-ctl status counts the changes.
set -eu
# shellcheck source-path=SCRIPTDIR source=../lib/common.sh
. "${TESTLIB:?TESTLIB must point to tests/lib}/common.sh"
# shellcheck source-path=SCRIPTDIR source=../lib/target.sh
. "$TESTLIB/target.sh"
# shellcheck source-path=SCRIPTDIR source=../lib/isns.sh
. "$TESTLIB/isns.sh"

require_root
require_iscsifs
require_cmd timeout isnsd isnsadm
require_isctl

IQN1=iqn.2026-11.org.iscsifs.test:isns-first
IQN2=iqn.2026-11.org.iscsifs.test:isns-second
setup_tmpdir
isnsd_start
isns_tgt_start
tgt_add_target 1 "$IQN1"
tgt_add_lun 1 1 8
tgt_bind 1
wait_for 15 isns_has_node "$IQN1" || fail "tgtd did not register $IQN1 with isnsd"

# --idle: nothing logs in, so the daemon holds no session on tgtd (see below).
iscsifs_config "0 1 isns 0 0 AuthMethod=None nopout_timeout=5 $IQN1"
printf 'ISNS="127.0.0.1 %s query_interval=5"\n' "$ISNSD_PORT" >>"$ISCSIFS_ETC/initiator"
ctl() { timeout -k 10 60 "$ISCTL" -s "$ISCSIFS_ETC/control.sock" "$@"; }
listed() { ctl discover 2>/dev/null | grep -q "^$1 127.0.0.1:3260\$"; }
not_listed() { ctl discover >"$TEST_TMP/discover.now" 2>&1 && ! grep -q "^$1 " "$TEST_TMP/discover.now"; }

start_iscsifs "$TEST_TMP/mnt" --idle
listed "$IQN1" || fail "discover does not list $IQN1 after start"
listed "$IQN2" && fail "discover lists $IQN2 before it exists"

tgt_add_target 2 "$IQN2"
wait_for 20 listed "$IQN2" || fail "$IQN2 not in the discovery list 20 s after it registered"
ctl discover
msg "$IQN2 appeared in the discovery list without a restart"
grep -qF "iSNS: state change notification: object added" "$ISCSIFS_LOG" ||
	fail "no state change notification logged for $IQN2"
grep -qF "iSNS: target $IQN2 appeared at 127.0.0.1:3260" "$ISCSIFS_LOG" ||
	fail "the new target is not logged"
ctl status | tee "$TEST_TMP/status.out"
grep -qF "1 change(s) noticed" "$TEST_TMP/status.out" || fail "status does not count the change"

# isnsd 0.101 closes an SCN connection about half a second after our answer, and an SCN it
# queues on that socket meanwhile is lost (not retransmitted): wait, so that the next one
# goes on a new connection. The periodic query would notice within 5 s anyway.
sleep 2
tgt_adm --op delete --mode target --tid 2 || fail "tgtadm: deleting target 2 failed"
TGT_TIDS=(1)
wait_for 20 not_listed "$IQN2" || fail "$IQN2 still listed 20 s after it left"
grep -qF "iSNS: target $IQN2 left" "$ISCSIFS_LOG" || fail "the departure is not logged"
if grep -qF "iSNS: state change notification: object removed: $IQN2" "$ISCSIFS_LOG"; then
	msg "the departure came as an SCN"
else
	msg "the departure was noticed by the periodic query (no SCN arrived)"
fi
ctl status | tee "$TEST_TMP/status.out"
grep -qF "2 change(s) noticed" "$TEST_TMP/status.out" || fail "status does not count the departure"
msg "$IQN2 left the discovery list without a restart"

# tgtd 1.0.85 keeps one SCN socket in a global: when isnsd opens a second SCN connection to
# it (our deregistration notifies each of its nodes) an event on the first one makes it
# block in read() on the second, for good. So tgtd goes first.
tgt_stop
stop_iscsifs_checked
