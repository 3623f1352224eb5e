#!/usr/bin/env bash
# A target without REPORT LUNS (tests/lib/fake_target.py --case no-report-luns:
# ILLEGAL REQUEST, invalid command operation code, as from a target older than
# SPC-3): the channel comes up with LUN 0 alone, as Linux scans such a target,
# says so once in the log, and the LUN file reads the LUN's bytes.
set -eu
# shellcheck source-path=SCRIPTDIR source=../lib/common.sh
. "${TESTLIB:?TESTLIB must point to tests/lib}/common.sh"
# shellcheck source-path=SCRIPTDIR source=../lib/fake.sh
. "$TESTLIB/fake.sh"

require_root
require_iscsifs
require_cmd cmp dd grep python3 timeout

IQN=iqn.2026-11.org.iscsifs.test:no-report-luns
setup_tmpdir
PORT=$(free_port) || hard_error "no free TCP port"
fake_start old "$PORT" --iqn "$IQN" --case no-report-luns
iscsifs_config "$(channel_line 0 "$PORT" "$IQN")"
MNT=$TEST_TMP/mnt
start_iscsifs "$MNT"
LUN=$MNT/$IQN/lun0
[ -f "$LUN" ] || fail "no LUN file $LUN"
grep -q "REPORT LUNS (not supported here)" "$FAKE_LOG" ||
	fail "the target was not asked REPORT LUNS: the test did not test"
[ "$(grep -c "the target has no REPORT LUNS: LUN 0 alone" "$ISCSIFS_LOG")" = 1 ] ||
	fail "the daemon's log does not say once that the target has no REPORT LUNS"
python3 "$FAKE" --expect 0 131072 >"$TEST_TMP/expected"
timeout -k 10 60 dd if="$LUN" of="$TEST_TMP/got" bs=65536 count=2 iflag=direct status=none ||
	fail "reading $LUN failed"
cmp "$TEST_TMP/expected" "$TEST_TMP/got" || fail "$LUN returned other bytes than the LUN holds"
stop_iscsifs_checked
msg "a target without REPORT LUNS: LUN 0 alone, logged once, and its file reads the LUN's bytes"
