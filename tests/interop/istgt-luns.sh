#!/usr/bin/env bash
# Two disk LUNs of different sizes on one istgt target (LUN 0 and LUN 1; istgt
# has no controller LUN): each appears as MNT/<iqn>/lun<N> with the LUN's size
# and reads back byte for byte as its backing file.
set -eu
# shellcheck source-path=SCRIPTDIR source=../lib/common.sh
. "${TESTLIB:?TESTLIB must point to tests/lib}/common.sh"
# shellcheck source-path=SCRIPTDIR source=../lib/istgt.sh
. "$TESTLIB/istgt.sh"

require_root
require_iscsifs
require_cmd istgt cmp stat timeout

setup_tmpdir
istgt_add_lun luns 0 24
istgt_add_lun luns 1 40
IQN=$ISTGT_IQN
istgt_start

iscsifs_config "$(channel_line 0 "$ISTGT_PORT" "$IQN")"
MNT=$TEST_TMP/mnt
start_iscsifs "$MNT"

msg "mount contents:"
timeout -k 10 30 ls -lR "$MNT"

for lun in 0 1; do
	file=$MNT/$IQN/lun$lun
	backing=$(istgt_lun_file luns "$lun")
	timeout -k 10 30 test -f "$file" || fail "$file does not exist (or is not a regular file)"
	want=$(stat -c %s "$backing")
	got=$(timeout -k 10 30 stat -c %s "$file") || fail "stat $file failed"
	[ "$got" = "$want" ] || fail "lun$lun: size $got, want $want"
	timeout -k 10 120 cmp "$file" "$backing" || fail "lun$lun: content differs from $backing"
	msg "lun$lun: $got bytes, content matches"
done

stop_iscsifs_checked
