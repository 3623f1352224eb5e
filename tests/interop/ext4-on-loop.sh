#!/usr/bin/env bash
# The documented workflow: a loop device over a LUN file, two partitions, ext4
# on the first, 100 MiB of files written and read back after a clean fsck and a
# remount. Every step that goes through the loop device is under a timeout: a
# loop device over a FUSE file can deadlock if the daemon waits on writeback.
set -eu
# shellcheck source-path=SCRIPTDIR source=../lib/common.sh
. "${TESTLIB:?TESTLIB must point to tests/lib}/common.sh"
# shellcheck source-path=SCRIPTDIR source=../lib/target.sh
. "$TESTLIB/target.sh"

require_root
require_iscsifs
require_loop
require_cmd losetup partx sfdisk blockdev mkfs.ext4 e2fsck mount umount sha256sum cmp timeout

IQN=iqn.2026-11.org.iscsifs.test:ext4
setup_tmpdir
tgt_start
tgt_add_target 1 "$IQN"
tgt_add_lun 1 1 256
tgt_bind 1
BACKING=$TGT_LUN_FILE

iscsifs_config "$(channel_line 0 "$TGT_PORT" "$IQN")"
MNT=$TEST_TMP/mnt
start_iscsifs "$MNT"
LUN=$MNT/$IQN/lun1
timeout -k 10 30 test -f "$LUN" || fail "$LUN does not exist"

# The detach is registered before anything else on the loop device, so it runs
# after the filesystem's umount and before the daemon's.
loop_attach "$LUN"
msg "loop device $LOOP over $LUN"

printf 'label: dos\n,128MiB,L\n,,L\n' | timeout -k 10 60 sfdisk -q --wipe always "$LOOP" ||
	fail "sfdisk on $LOOP failed"
# losetup -P does not make partition devices on every kernel; partx does.
[ -b "${LOOP}p1" ] || timeout -k 10 60 partx -a "$LOOP" || fail "partx -a $LOOP failed"
have_parts() { [ -b "${LOOP}p1" ] && [ -b "${LOOP}p2" ]; }
wait_for 10 have_parts || fail "no ${LOOP}p1 and ${LOOP}p2 after partitioning"
PART=${LOOP}p1

timeout -k 10 120 mkfs.ext4 -q -F "$PART" || fail "mkfs.ext4 $PART failed"
FS=$TEST_TMP/fs
mkdir "$FS"
timeout -k 10 60 mount "$PART" "$FS" || fail "mount $PART failed"
defer umount_if_mounted "$FS"

# 100 MiB in files of several sizes, plus a few small ones in a subdirectory.
mkdir "$FS/dir"
for spec in a:40 b:25 c:20 d:10 e:4 f:1; do
	timeout -k 10 120 dd if=/dev/urandom of="$FS/${spec%%:*}.bin" bs=1M count="${spec#*:}" \
		iflag=fullblock status=none || fail "writing ${spec%%:*}.bin failed"
done
for i in 1 2 3 4 5; do
	timeout -k 10 60 dd if=/dev/urandom of="$FS/dir/small$i" bs=1000 count="$i" status=none ||
		fail "writing dir/small$i failed"
done
(cd "$FS" && timeout -k 10 300 bash -c 'find . -type f -print0 | sort -z | xargs -0 sha256sum') \
	>"$TEST_TMP/sums" || fail "sha256sum failed"
msg "wrote 100 MiB and 15 KB in $(wc -l <"$TEST_TMP/sums") files"

timeout -k 10 120 umount "$FS" || fail "umount $FS failed"
# Read what the target holds from here on, not what the kernel still caches.
timeout -k 10 60 blockdev --flushbufs "$PART" "$LOOP" || fail "blockdev --flushbufs failed"
drop_caches
timeout -k 10 300 e2fsck -fn "$PART" || fail "e2fsck -fn $PART reports problems"
msg "e2fsck: clean"

timeout -k 10 60 mount "$PART" "$FS" || fail "remount of $PART failed"
(cd "$FS" && timeout -k 10 300 sha256sum -c --quiet "$TEST_TMP/sums") ||
	fail "files read back after remount differ"
msg "sha256sum -c: all files match after remount"
timeout -k 10 120 umount "$FS" || fail "final umount $FS failed"

loop_detach "$LOOP" "$(readlink -f "$LUN")" || fail "detaching $LOOP failed"

timeout -k 10 120 cmp "$LUN" "$BACKING" || fail "LUN file and backing file differ after the loop device went"
stop_iscsifs_checked
