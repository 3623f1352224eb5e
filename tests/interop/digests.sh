#!/usr/bin/env bash
# With HeaderDigest=CRC32C and DataDigest=CRC32C negotiated, the data tests
# hold: the LUN reads as its backing file, and seeded unaligned and large
# writes land byte for byte. tgtd checks every digest the initiator sends and
# drops the connection on a bad one, so passing data means correct digests
# both ways.
set -eu
# shellcheck source-path=SCRIPTDIR source=../lib/common.sh
. "${TESTLIB:?TESTLIB must point to tests/lib}/common.sh"
# shellcheck source-path=SCRIPTDIR source=../lib/target.sh
. "$TESTLIB/target.sh"

require_root
require_iscsifs
require_cmd cmp grep python3 timeout

IQN=iqn.2026-11.org.iscsifs.test:digests
setup_tmpdir
tgt_start
tgt_add_target 1 "$IQN"
tgt_add_lun 1 1 24
tgt_bind 1
# tgtd offers only what it is configured with (None by default).
for key in HeaderDigest DataDigest; do
	tgt_adm --op update --mode target --tid 1 --name "$key" --value CRC32C ||
		fail "tgtadm: cannot set $key=CRC32C"
done
BACKING=$(tgt_lun_file 1 1)
CHANNEL_KEYS="AuthMethod=None;HeaderDigest=CRC32C,None;DataDigest=CRC32C,None"
iscsifs_config "$(channel_line 0 "$TGT_PORT" "$IQN")"
MNT=$TEST_TMP/mnt
start_iscsifs "$MNT"
grep -q "HeaderDigest CRC32C, DataDigest CRC32C" "$ISCSIFS_LOG" ||
	fail "CRC32C digests were not negotiated"
LUN=$MNT/$IQN/lun1

timeout -k 10 60 cmp "$LUN" "$BACKING" || fail "the LUN does not read as its backing file"
cp "$BACKING" "$TEST_TMP/expected"
timeout -k 10 120 python3 "$TESTLIB/rwcheck.py" write 42 "$LUN" "$TEST_TMP/expected" ||
	fail "writes with digests failed"
timeout -k 10 60 python3 "$TESTLIB/rwcheck.py" check 42 "$TEST_TMP/expected" "$LUN" "$BACKING" ||
	fail "written regions differ"
cmp "$TEST_TMP/expected" "$BACKING" || fail "stray bytes in the backing file"
! grep -q "digest error" "$ISCSIFS_LOG" || fail "a digest error was logged"
msg "data intact with header and data digests"
stop_iscsifs_checked
