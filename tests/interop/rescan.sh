#!/usr/bin/env bash
# LUNs added to, removed from and resized on a running tgtd target show up in
# the mount without a restart. tgtd reports each change as a unit attention
# (REPORTED LUNS DATA HAS CHANGED) on the next command; the daemon rescans.
set -eu
# shellcheck source-path=SCRIPTDIR source=../lib/common.sh
. "${TESTLIB:?TESTLIB must point to tests/lib}/common.sh"
# shellcheck source-path=SCRIPTDIR source=../lib/target.sh
. "$TESTLIB/target.sh"

require_root
require_iscsifs
require_cmd cmp dd stat timeout truncate

IQN=iqn.2026-11.org.iscsifs.test:rescan
setup_tmpdir
tgt_start
tgt_add_target 1 "$IQN"
tgt_add_lun 1 1 8
tgt_add_lun 1 3 8
tgt_bind 1
iscsifs_config "$(channel_line 0 "$TGT_PORT" "$IQN")"
MNT=$TEST_TMP/mnt
start_iscsifs "$MNT"
DIR=$MNT/$IQN

# Any command on the session carries the unit attention back.
poke() { timeout -k 10 30 dd if="$DIR/lun1" of=/dev/null bs=4096 count=1 iflag=direct status=none; }
exists() { poke; [ -e "$DIR/$1" ]; }
absent() { poke; [ ! -e "$DIR/$1" ]; }
size_is() { poke; [ "$(stat -c %s "$DIR/$1")" = "$2" ]; }

[ ! -e "$DIR/lun2" ] || fail "lun2 exists before it was added"
tgt_add_lun 1 2 16
wait_for 20 exists lun2 || fail "lun2 did not appear after it was added to the target"
timeout -k 10 60 cmp "$DIR/lun2" "$(tgt_lun_file 1 2)" || fail "the new lun2 does not read as its backing file"
[ "$(stat -c %s "$DIR/lun2")" = $((16 << 20)) ] || fail "lun2 has the wrong size"
msg "lun2 appeared with the right size and content"

tgt_adm --op delete --mode logicalunit --tid 1 --lun 2 || fail "tgtadm: cannot delete LUN 2"
wait_for 20 absent lun2 || fail "lun2 is still there after it was removed from the target"
msg "lun2 went away"

# Resize lun3: take it out, grow its file, put it back before the daemon looks.
before=$(stat -c %s "$DIR/lun3")
[ "$before" = $((8 << 20)) ] || fail "lun3 starts at $before bytes, want 8 MiB"
file3=$(tgt_lun_file 1 3)
tgt_adm --op delete --mode logicalunit --tid 1 --lun 3 || fail "tgtadm: cannot delete LUN 3"
truncate -s 24M "$file3"
tgt_adm --op new --mode logicalunit --tid 1 --lun 3 -b "$file3" || fail "tgtadm: cannot re-add LUN 3"
wait_for 20 size_is lun3 $((24 << 20)) || fail "lun3 size is $(stat -c %s "$DIR/lun3"), want 24 MiB"
timeout -k 10 60 cmp "$DIR/lun3" "$file3" || fail "the resized lun3 does not read as its backing file"
msg "lun3 grew from 8 to 24 MiB"
grep -q "rescanning LUNs" "$ISCSIFS_LOG" || fail "no rescan in the log"
grep -q "unit attention on LUN [0-9]*: 3f/0e (reported LUNs data has changed)" "$ISCSIFS_LOG" ||
	fail "the log does not give the unit attention for the new LUN in words"

stop_iscsifs_checked
