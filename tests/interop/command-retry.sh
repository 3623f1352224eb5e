#!/usr/bin/env bash
# A target that loses a command (no answer, but alive and answering pings) and
# then answers the ABORT TASK for it: the command is sent again with a new tag
# and CmdSN, and the application's read succeeds with the right bytes; no EIO
# while the target keeps its word. tests/lib/fake_target.py --case lose-read.
set -eu
# shellcheck source-path=SCRIPTDIR source=../lib/common.sh
. "${TESTLIB:?TESTLIB must point to tests/lib}/common.sh"
# shellcheck source-path=SCRIPTDIR source=../lib/fake.sh
. "$TESTLIB/fake.sh"

require_root
require_iscsifs
require_cmd cmp dd grep python3 ss timeout

IQN=iqn.2026-11.org.iscsifs.test:lose-read
setup_tmpdir
FAKE_PORT=$(free_port) || hard_error "no free TCP port"
fake_start lose "$FAKE_PORT" --iqn "$IQN" --case lose-read --after 2

CHANNEL_ATTRS="command_timeout=2;nopout_timeout=5"
iscsifs_config "$(channel_line 0 "$FAKE_PORT" "$IQN")"
MNT=$TEST_TMP/mnt
start_iscsifs "$MNT"
LUN=$MNT/$IQN/lun0

# Four 64 KiB reads, one request each: the third is the one the target loses.
python3 "$FAKE" --expect 0 262144 >"$TEST_TMP/expected"
for i in 0 1 2 3; do
	timeout -k 10 60 dd if="$LUN" of="$TEST_TMP/got" bs=65536 skip="$i" seek="$i" count=1 \
		iflag=direct conv=notrunc status=none 2>"$TEST_TMP/dd.err" ||
		fail "read $i failed: $(cat "$TEST_TMP/dd.err")"
done
grep -q "losing READ" "$FAKE_LOG" || fail "the fake target lost no READ: the test did not test"
grep -q "ABORT TASK for" "$FAKE_LOG" || fail "the lost READ was not aborted"
grep -q "sending it again" "$ISCSIFS_LOG" || fail "the daemon does not say it sent the command again"
cmp "$TEST_TMP/expected" "$TEST_TMP/got" || fail "the reads returned other bytes than the LUN holds"
msg "a lost command was aborted, sent again, and the read returned the right bytes"
stop_iscsifs_checked
