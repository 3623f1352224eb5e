#!/usr/bin/env bash
# iSNS over IPv6: isnsd listens on [::1] only, tgtd on [::1]:3260 registers its target there
# (its portal as ::1), and a channel that names only the target's IQN takes its portal from
# iSNS. The initiator registers over IPv6 (with its IPv6 address as portal), lists the target
# at [::1]:3260, logs in there, reads the LUN, and deregisters at umount.
set -eu
# shellcheck source-path=SCRIPTDIR source=../lib/common.sh
. "${TESTLIB:?TESTLIB must point to tests/lib}/common.sh"
# shellcheck source-path=SCRIPTDIR source=../lib/target.sh
. "$TESTLIB/target.sh"
# shellcheck source-path=SCRIPTDIR source=../lib/isns.sh
. "$TESTLIB/isns.sh"

require_root
require_iscsifs
require_ipv6_loopback
require_cmd cmp timeout isnsd isnsadm
require_isctl

IQN=iqn.2026-11.org.iscsifs.test:isns-ipv6
setup_tmpdir
ISNSD_ADDR=::1
TGT_ADDR=::1
isnsd_start
isns_tgt_start
tgt_add_target 1 "$IQN"
tgt_add_lun 1 1 16
tgt_bind 1
wait_for 15 isns_has_node "$IQN" || fail "tgtd did not register $IQN with isnsd"
msg "tgtd registered $IQN with isnsd over IPv6"

iscsifs_config "0 1 isns 0 0 AuthMethod=None nopout_timeout=5 $IQN"
printf 'ISNS="::1 %s"\n' "$ISNSD_PORT" >>"$ISCSIFS_ETC/initiator"
ctl() { timeout -k 10 60 "$ISCTL" -s "$ISCSIFS_ETC/control.sock" "$@"; }

MNT=$TEST_TMP/mnt
start_iscsifs "$MNT"
isns_has_node "$TEST_INITIATOR_IQN" || fail "the initiator is not registered with isnsd"
timeout -k 5 20 isnsadm -c "$ISNSD_DIR/isnsadm.conf" --list portals >"$TEST_TMP/portals.out" 2>&1 || true
show_on_failure "$TEST_TMP/portals.out"
msg "initiator registered with isnsd over IPv6"

ctl discover >"$TEST_TMP/discover.out" || fail "initiator-ctl discover failed"
cat "$TEST_TMP/discover.out"
grep -qxF "$IQN [::1]:3260" "$TEST_TMP/discover.out" || fail "discover does not list $IQN at [::1]:3260"
timeout -k 10 120 cmp "$MNT/$IQN/lun1" "$(tgt_lun_file 1 1)" ||
	fail "lun1 read through the iSNS-resolved channel differs from its backing file"
msg "lun1 through [::1]:3260 from iSNS matches its backing file"

ctl status >"$TEST_TMP/status.out" || fail "initiator-ctl status failed"
cat "$TEST_TMP/status.out"
grep -qF "iSNS server [::1]:$ISNSD_PORT: registered" "$TEST_TMP/status.out" ||
	fail "status does not say the initiator is registered with [::1]:$ISNSD_PORT"
grep -qF "portal [::1]:3260 (from iSNS)" "$TEST_TMP/status.out" ||
	fail "status does not show the portal iSNS gave"

stop_iscsifs_checked
grep -qF "iSNS: deregistered $TEST_INITIATOR_IQN" "$ISCSIFS_LOG" || fail "no deregistration logged"
! isns_has_node "$TEST_INITIATOR_IQN" || fail "the initiator is still registered after umount"
msg "initiator deregistered at umount"
