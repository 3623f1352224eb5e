#!/usr/bin/env bash
# Two disk LUNs of different sizes on tgtd: each appears as
# MNT/<iqn>/lun<N>, with the LUN's size, and reads back byte for byte as its
# backing file.
set -eu
# shellcheck source-path=SCRIPTDIR source=../lib/common.sh
. "${TESTLIB:?TESTLIB must point to tests/lib}/common.sh"
# shellcheck source-path=SCRIPTDIR source=../lib/target.sh
. "$TESTLIB/target.sh"

require_root
require_iscsifs
require_cmd cmp stat timeout

IQN=iqn.2026-11.org.iscsifs.test:sizes
setup_tmpdir
tgt_start
tgt_add_target 1 "$IQN"
tgt_add_lun 1 1 24
tgt_add_lun 1 2 40
tgt_bind 1

iscsifs_config "$(channel_line 0 "$TGT_PORT" "$IQN")"
MNT=$TEST_TMP/mnt
start_iscsifs "$MNT"

msg "mount contents:"
timeout -k 10 30 ls -lR "$MNT"

for lun in 1 2; do
	file=$MNT/$IQN/lun$lun
	backing=$(tgt_lun_file 1 "$lun")
	timeout -k 10 30 test -f "$file" || fail "$file does not exist (or is not a regular file)"
	want=$(stat -c %s "$backing")
	got=$(timeout -k 10 30 stat -c %s "$file") || fail "stat $file failed"
	[ "$got" = "$want" ] || fail "lun$lun: size $got, want $want"
	timeout -k 10 120 cmp "$file" "$backing" || fail "lun$lun: content differs from $backing"
	msg "lun$lun: $got bytes, content matches"
done

stop_iscsifs_checked
