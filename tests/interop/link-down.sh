#!/usr/bin/env bash
# A link cut in the middle of a write workload: the daemon reaches tgtd through
# a veth pair into a network namespace this test creates; the test takes the
# link down for 20 s. The loss is logged within nopout_timeout +
# nopout_response_timeout (plus the timer's second), I/O waits instead of
# failing (replacement_timeout is longer than the cut), and once the link is
# back the session recovers and the workload finishes with zero errors and
# zero mismatches.
set -eu
# shellcheck source-path=SCRIPTDIR source=../lib/common.sh
. "${TESTLIB:?TESTLIB must point to tests/lib}/common.sh"
# shellcheck source-path=SCRIPTDIR source=../lib/target.sh
. "$TESTLIB/target.sh"

require_root
require_iscsifs
require_cmd ip ss cmp grep python3 timeout

setup_tmpdir
# One link, with addresses that exist only on it, inside this test's own namespace.
netns_links ld 213 1
VH=$VH1
NET=$NET1

IQN=iqn.2026-11.org.iscsifs.test:linkdown
TGT_NETNS=$NS
TGT_ADDR=$NET.2
tgt_start
tgt_add_target 1 "$IQN"
tgt_add_lun 1 1 24
tgt_bind 1
BACKING=$(tgt_lun_file 1 1)

CHANNEL_ADDR=$NET.2
CHANNEL_ATTRS="nopout_timeout=2;nopout_response_timeout=3"
iscsifs_config "$(channel_line 0 "$TGT_PORT" "$IQN")"
MNT=$TEST_TMP/mnt
start_iscsifs "$MNT"

start_workload "$MNT/$IQN/lun1" 16 2

ip link set "$VH" down
down=$(date +%s)
lost() { grep -q "no answer to a NOP-Out ping within 3 s" "$ISCSIFS_LOG"; }
wait_for 15 lost || fail "the loss was not logged 15 s after the link went down"
noticed=$(($(date +%s) - down))
msg "loss logged ${noticed} s after the link went down"
[ "$noticed" -le 7 ] || fail "the loss took ${noticed} s to notice, more than 2 + 3 s and the timer's tick"
sleep $((20 - noticed))
ip link set "$VH" up
msg "link up again after 20 s"
wait_more_passes 2
finish_workload
grep -q "session recovered" "$ISCSIFS_LOG" || fail "no session recovery in the log"
stop_iscsifs_checked
cmp -n $((16 << 20)) "$TEST_TMP/expected" "$BACKING" || fail "the backing file lacks acknowledged writes"
msg "no error and no lost write across a 20 s link cut"
