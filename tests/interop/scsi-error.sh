#!/usr/bin/env bash
# A READ the logical unit fails (CHECK CONDITION, MEDIUM ERROR 11/00 from
# tests/lib/fake_target.py --case medium-error), on a multipath device with two
# paths (two scripted targets serving the same LUN, multipath=failover): the
# application gets EIO for that read, the log names the LUN, the LBA and the
# sense, and the command is not sent down the other path, which would hide a
# failing disk behind a retry. The path that reported it stays active, and the
# reads around it return the LUN's bytes. Reading the bad region 14 times more
# fails every time, but the log takes 10 such lines a minute, not 15; the
# status counts all 15.
set -eu
# shellcheck source-path=SCRIPTDIR source=../lib/common.sh
. "${TESTLIB:?TESTLIB must point to tests/lib}/common.sh"
# shellcheck source-path=SCRIPTDIR source=../lib/fake.sh
. "$TESTLIB/fake.sh"

require_root
require_iscsifs
require_cmd cmp dd grep python3 timeout
require_isctl

IQN=iqn.2026-11.org.iscsifs.test:scsi-error
setup_tmpdir
PORT0=$(free_port) || hard_error "no free TCP port"
fake_start path0 "$PORT0" --iqn "$IQN" --case medium-error --after 2
LOG0=$FAKE_LOG
PORT1=$(free_port) || hard_error "no free TCP port"
[ "$PORT1" != "$PORT0" ] || PORT1=$(free_port) || hard_error "no free TCP port"
fake_start path1 "$PORT1" --iqn "$IQN"
LOG1=$FAKE_LOG

CHANNEL_ATTRS="nopout_timeout=5;multipath=failover"
iscsifs_config "$(channel_line 0 "$PORT0" "$IQN")" "$(channel_line 1 "$PORT1" "$IQN")"
MNT=$TEST_TMP/mnt
start_iscsifs "$MNT"
ctl() { timeout -k 10 60 "$ISCTL" -s "$ISCSIFS_ETC/control.sock" "$@"; }

# path_states: "STATE0 STATE1" of the one multipath device, and its file in FILE.
path_states() {
	ctl status --json | python3 -c '
import json, sys
mp = json.load(sys.stdin)["multipath"]
if len(mp) == 1:
    print(mp[0]["file"], " ".join(p["state"] for p in mp[0]["paths"]))'
}
states_are() {
	read -r FILE STATES <<<"$(path_states)" && [ "$STATES" = "$1" ]
}
FILE='' STATES=''
wait_for 20 states_are "active standby" ||
	fail "status does not show one device with paths active and standby: ${STATES:-none}"
[ -f "$FILE" ] || fail "no multipath file $FILE"

# Five 64 KiB reads, one command each, in order: the third is the one path 0's
# logical unit fails.
python3 "$FAKE" --expect 0 327680 >"$TEST_TMP/expected"
: >"$TEST_TMP/got"
for i in 0 1 2 3 4; do
	st=0
	timeout -k 10 60 dd if="$FILE" of="$TEST_TMP/got" bs=65536 skip="$i" seek="$i" count=1 \
		iflag=direct conv=notrunc status=none 2>"$TEST_TMP/dd.$i.err" || st=$?
	if [ "$i" = 2 ]; then
		[ "$st" != 0 ] || fail "the read the logical unit failed returned data: retried elsewhere?"
		grep -q "Input/output error" "$TEST_TMP/dd.$i.err" ||
			fail "the failed read did not end in EIO: $(cat "$TEST_TMP/dd.$i.err")"
	else
		[ "$st" = 0 ] || fail "read $i failed: $(cat "$TEST_TMP/dd.$i.err")"
	fi
done
grep -q "with CHECK CONDITION, MEDIUM ERROR" "$LOG0" ||
	fail "path 0's target answered no READ with MEDIUM ERROR: the test did not test"
! grep -q "READ lba" "$LOG1" ||
	fail "a READ went down path 1: $(grep "READ lba" "$LOG1" | head -3)"
# The third 64 KiB: 128 blocks of 512 bytes at LBA 256.
grep -q "READ of 128 blocks at LBA 256 failed: CHECK CONDITION, MEDIUM ERROR 11/00 (unrecovered read error)" \
	"$ISCSIFS_LOG" || fail "the daemon's log does not name the failed READ and its sense"
states_are "active standby" || fail "the paths are '$STATES' after a medium error, want 'active standby'"
for i in $(seq 14); do
	! timeout -k 10 60 dd if="$FILE" of=/dev/null bs=65536 skip=2 count=1 iflag=direct \
		status=none 2>/dev/null || fail "reading the bad region again succeeded (time $i)"
done
[ "$(grep -c "with CHECK CONDITION, MEDIUM ERROR" "$LOG0")" = 15 ] ||
	fail "path 0's target did not fail 15 READs of the bad region: $(grep -c "MEDIUM ERROR" "$LOG0")"
! grep -q "READ lba" "$LOG1" || fail "a READ of the bad region went down path 1"
logged=$(grep -c "READ of 128 blocks at LBA 256 failed" "$ISCSIFS_LOG" || true)
[ "$logged" = 10 ] || fail "$logged log lines for 15 failed READs in well under a minute, want 10"
# The status counts all 15, on path 0's LUN, none on path 1's.
counts=$(ctl status --json | python3 -c '
import json, sys
print(" ".join(str(c["luns"][0]["scsi_errors"]) for c in json.load(sys.stdin)["channels"]))')
[ "$counts" = "15 0" ] || fail "status counts '$counts' SCSI errors on the two paths' LUNs, want '15 0'"
ctl status | grep -q "lun0: .*, 15 SCSI errors$" || fail "the text status does not show the 15 SCSI errors"
for i in 0 1 3 4; do
	cmp -s <(dd if="$TEST_TMP/expected" bs=65536 skip="$i" count=1 status=none) \
		<(dd if="$TEST_TMP/got" bs=65536 skip="$i" count=1 status=none) ||
		fail "read $i returned other bytes than the LUN holds"
done
msg "a MEDIUM ERROR on the active path: EIO for that read, logged with its LBA and sense, not sent down the standby path, which stayed on standby; the other reads returned the LUN's bytes; 15 failures of the bad region made 10 log lines"
stop_iscsifs_checked
