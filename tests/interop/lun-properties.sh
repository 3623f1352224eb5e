#!/usr/bin/env bash
# What the target says about a LUN reaches its file: a thin-provisioned LUN
# takes fallocate(PUNCH_HOLE) as UNMAP (the range reads as zeros, the bytes
# around it are kept, the target frees the space); a LUN without thin
# provisioning refuses it; a write-protected LUN is read-only; every LUN
# reports its VPD identifier.
set -eu
# shellcheck source-path=SCRIPTDIR source=../lib/common.sh
. "${TESTLIB:?TESTLIB must point to tests/lib}/common.sh"
# shellcheck source-path=SCRIPTDIR source=../lib/target.sh
. "$TESTLIB/target.sh"

require_root
require_iscsifs
require_cmd cmp dd du fallocate grep python3 stat timeout

IQN=iqn.2026-11.org.iscsifs.test:props
setup_tmpdir
tgt_start
tgt_add_target 1 "$IQN"
tgt_add_lun 1 1 16
tgt_add_lun 1 2 8
tgt_add_lun 1 3 8
tgt_cfg --op update --mode logicalunit --tid 1 --lun 1 --params thin_provisioning=1 ||
	fail "tgtadm: cannot make LUN 1 thin"
tgt_cfg --op update --mode logicalunit --tid 1 --lun 3 --params readonly=1 ||
	fail "tgtadm: cannot make LUN 3 read-only"
tgt_bind 1
iscsifs_config "$(channel_line 0 "$TGT_PORT" "$IQN")"
MNT=$TEST_TMP/mnt
start_iscsifs "$MNT"
DIR=$MNT/$IQN

grep -q "lun1: .*thin (UNMAP), id naa\." "$ISCSIFS_LOG" || fail "lun1 is not seen as thin with an identifier"

# Punch an unaligned 6 MiB hole into lun1.
THIN=$(tgt_lun_file 1 1)
cp "$THIN" "$TEST_TMP/expected"
OFF=1000
LEN=$((6 << 20))
python3 - "$TEST_TMP/expected" "$OFF" "$LEN" <<'PY'
import os, sys
fd = os.open(sys.argv[1], os.O_RDWR)
os.pwrite(fd, bytes(int(sys.argv[3])), int(sys.argv[2]))
PY
before=$(du -k "$THIN" | cut -f1)
timeout -k 10 60 fallocate --punch-hole --keep-size -o "$OFF" -l "$LEN" "$DIR/lun1" ||
	fail "punching a hole into the thin lun1 failed"
timeout -k 10 60 cmp "$DIR/lun1" "$TEST_TMP/expected" || fail "lun1 does not read as zeros in the hole and intact around it"
cmp "$THIN" "$TEST_TMP/expected" || fail "the target's file differs from the expected content"
after=$(du -k "$THIN" | cut -f1)
[ "$after" -lt "$before" ] || fail "the target kept the space ($before KiB before, $after KiB after)"
msg "lun1: hole punched, $before KiB -> $after KiB on the target"

if timeout -k 10 60 fallocate --punch-hole --keep-size -o 0 -l 4096 "$DIR/lun2" 2>"$TEST_TMP/err"; then
	fail "punching a hole into lun2, which is not thin, succeeded"
fi
grep -Eq "not supported|unsupported" "$TEST_TMP/err" || fail "lun2 refused the hole with: $(cat "$TEST_TMP/err")"
msg "lun2: hole refused (not thin)"

[ "$(stat -c %a "$DIR/lun3")" = 400 ] || fail "read-only lun3 has mode $(stat -c %a "$DIR/lun3")"
if timeout -k 10 30 dd if=/dev/zero of="$DIR/lun3" bs=512 count=1 conv=notrunc status=none 2>"$TEST_TMP/err"; then
	fail "writing to the read-only lun3 succeeded"
fi
grep -q "Read-only file system" "$TEST_TMP/err" || fail "lun3 refused writing with: $(cat "$TEST_TMP/err")"
timeout -k 10 30 cmp "$DIR/lun3" "$(tgt_lun_file 1 3)" || fail "read-only lun3 does not read as its file"
msg "lun3: read-only"
stop_iscsifs_checked
