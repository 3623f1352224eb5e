#!/usr/bin/env bash
# Seeded writes through an istgt LUN file (unaligned, across block and MiB
# boundaries, tiny and over 1 MiB, at both ends, some overlapping): they read
# back through the LUN file, and once the daemon is unmounted and istgt has
# stopped (so nothing it caches is left unwritten), the backing file holds
# them and nothing else in it changed.
set -eu
# shellcheck source-path=SCRIPTDIR source=../lib/common.sh
. "${TESTLIB:?TESTLIB must point to tests/lib}/common.sh"
# shellcheck source-path=SCRIPTDIR source=../lib/istgt.sh
. "$TESTLIB/istgt.sh"

require_root
require_iscsifs
require_cmd istgt cmp cp timeout sync python3
[ -f "$TESTLIB/rwcheck.py" ] || hard_error "$TESTLIB/rwcheck.py is missing"

SEED=${RANDOM_WRITES_SEED:-20261119}
setup_tmpdir
istgt_add_lun writes 0 64
IQN=$ISTGT_IQN
BACKING=$ISTGT_LUN_FILE
# The expected image: the LUN as it is now, with the same writes applied.
cp "$BACKING" "$TEST_TMP/expected.img"
istgt_start

iscsifs_config "$(channel_line 0 "$ISTGT_PORT" "$IQN")"
MNT=$TEST_TMP/mnt
start_iscsifs "$MNT"
LUN=$MNT/$IQN/lun0
timeout -k 10 30 test -f "$LUN" || fail "$LUN does not exist"

rwcheck() { timeout -k 10 300 python3 "$TESTLIB/rwcheck.py" "$@"; }

msg "writing through $LUN (seed $SEED)"
rwcheck write "$SEED" "$LUN" "$TEST_TMP/expected.img" || fail "writing through the LUN file failed"
timeout -k 10 120 sync || fail "sync did not finish"
drop_caches

rwcheck check "$SEED" "$TEST_TMP/expected.img" "$LUN" ||
	fail "reading back through the LUN file does not return the written data"
timeout -k 10 120 cmp "$LUN" "$TEST_TMP/expected.img" ||
	fail "the LUN file differs from the expected image outside the written regions"
msg "all regions read back through the LUN file"

stop_iscsifs_checked
istgt_stop --keep-files || fail "istgt did not exit on SIGTERM"
msg "istgt stopped; checking its backing file"

rwcheck check "$SEED" "$TEST_TMP/expected.img" "$BACKING" ||
	fail "istgt's backing file does not hold the written data"
timeout -k 10 120 cmp "$BACKING" "$TEST_TMP/expected.img" ||
	fail "istgt's backing file differs from the expected image outside the written regions"
msg "the backing file holds every write and nothing else changed"
