#!/usr/bin/env bash
# Stopping a channel whose mapped partitions are in use fails and changes
# nothing (howto section 3 C): with a process sitting in the second of two
# mapped partitions, 'initiator stop 0' and 'iscsi-unmap-channel 0' exit 1 with
# a message that names the busy mount, and every mount, loop device and the
# session (same TSIH) are as before. The same when the user is one that fuser
# cannot see (a loop device over a file there): the mount already unmounted is
# mounted again. Once the users are gone, 'stop 0' succeeds.
# 'iscsi-unmap-channel 0 1' (FORCE) kills a holder and unmaps.
set -eu
# shellcheck source-path=SCRIPTDIR source=../lib/common.sh
. "${TESTLIB:?TESTLIB must point to tests/lib}/common.sh"
# shellcheck source-path=SCRIPTDIR source=../lib/target.sh
. "$TESTLIB/target.sh"

: "${SCRIPTS:=$TESTLIB/../../scripts}"

require_root
require_iscsifs
require_loop
require_cmd losetup partx sfdisk blkid mkfs.ext4 mount umount fuser flock truncate python3 timeout
require_isctl
[ -x "$SCRIPTS/initiator" ] || hard_error "no init script in '$SCRIPTS'"

IQN=iqn.2026-11.org.iscsifs.test:busy
setup_tmpdir
tgt_start
tgt_add_target 1 "$IQN"
tgt_add_lun 1 1 64
tgt_bind 1

ROOT=$TEST_TMP/root
MNT=$TEST_TMP/luns
iscsifs_config "$(channel_line 0 "$TGT_PORT" "$IQN")"
printf 'DEVICE="0 1 1 disk1a"\nDEVICE="0 1 2 disk1b"\n' >"$ISCSIFS_ETC/iscsi_device_maps"
printf 'daemon: {\n\tmount_root = "%s";\n};\n' "$ROOT" >"$ISCSIFS_ETC/iscsifs.conf"
start_iscsifs "$MNT"
LUN=$MNT/$IQN/lun1
DIR1=$ROOT/$IQN/disk1a
DIR2=$ROOT/$IQN/disk1b

export ISCSIFS ISCSIFS_CTL=$ISCTL ISCSIFS_MAP_DIR=$SCRIPTS ISCSIFS_MOUNTPOINT=$MNT
export ISCSIFS_CONTROL_SOCKET=$ISCSIFS_ETC/control.sock ISCSIFS_CONFIG=$ISCSIFS_ETC/iscsifs.conf
export ISCSIFS_DEFAULTS=/dev/null ISCSIFS_MAP_LOCK=$TEST_TMP/maps.lock
initiator() { timeout -k 10 300 "$SCRIPTS/initiator" "$@"; }
unmap() { timeout -k 10 300 "$SCRIPTS/iscsi-unmap-channel" "$@"; }
ctl() { timeout -k 10 60 "$ISCTL" "$@"; }

mounts_under() { awk -v d="$1/" 'index($5, d) == 1 { print $5, $3 }' /proc/self/mountinfo | sort -r; }
# Loop devices over the daemon's LUN files, as "DEVICE BACKING-FILE" lines.
our_loops() {
	local b f
	for b in /sys/block/loop*/loop/backing_file; do
		[ -e "$b" ] || continue
		f=$(cat "$b" 2>/dev/null) || continue
		case $f in "$MNT"/*) b=${b#/sys/block/}; printf '/dev/%s %s\n' "${b%%/*}" "$f" ;; esac
	done
}
teardown() {
	local m l f
	while read -r m _; do
		[ -z "$m" ] || umount_if_mounted "$m" || timeout -k 10 30 umount -l "$m"
	done < <(mounts_under "$ROOT")
	while read -r l f; do
		[ -z "$l" ] || loop_detach "$l" "$f"
	done < <(our_loops)
	return 0
}

# Two ext4 partitions on LUN 1, made before any map.
loop_attach "$LUN"
printf 'label: dos\n,32MiB,L\n,,L\n' | timeout -k 10 60 sfdisk -q --wipe always "$LOOP" ||
	fail "sfdisk on $LOOP failed"
timeout -k 10 60 partx -a "$LOOP" || fail "partx -a $LOOP failed"
have_parts() { [ -b "${LOOP}p1" ] && [ -b "${LOOP}p2" ]; }
wait_for 10 have_parts || fail "no ${LOOP}p1 and ${LOOP}p2 after partitioning"
for p in 1 2; do
	timeout -k 10 120 mkfs.ext4 -q -F "${LOOP}p$p" || fail "mkfs.ext4 ${LOOP}p$p failed"
done
loop_detach "$LOOP" "$(readlink -f "$LUN")" || fail "detaching $LOOP failed"
# Registered after loop_attach's own detach, so that it runs before it: the map
# script may attach the same loop device to the same file again.
defer teardown

tsih() {
	ctl status 0 --json | python3 -c 'import json, sys; print(json.load(sys.stdin)["channels"][0]["session"]["tsih"])'
}
# Everything a failed stop must leave alone: mounts, loop devices, channel state, session.
snapshot() {
	mounts_under "$ROOT"
	our_loops
	ctl list
	printf 'tsih %s\n' "$(tsih)"
}
check_unmapped() {
	local left
	left=$(mounts_under "$ROOT")
	[ -z "$left" ] || fail "still mounted after $1: $left"
	left=$(our_loops)
	[ -z "$left" ] || fail "loop devices left after $1: $left"
}

initiator start 0 || fail "initiator start 0 failed"
for d in "$DIR1" "$DIR2"; do
	is_mounted "$d" || fail "$d is not mounted after initiator start 0"
done
echo data >"$DIR1/file"
echo data >"$DIR2/file"
snapshot >"$TEST_TMP/before"
msg "mapped: $(tr '\n' ' ' <"$TEST_TMP/before")"

# A process of ours sitting in the second mount (the first is idle, so an
# unmap that does not check everything first would unmount it).
(cd "$DIR2" && exec sleep 600) &
HOLDER=$!
defer "kill $HOLDER 2>/dev/null; true"
holder_in() { [ "$(readlink "/proc/$HOLDER/cwd")" = "$1" ]; }
wait_for 10 holder_in "$DIR2" || fail "the holder process did not settle in $DIR2"

st=0
initiator stop 0 >"$TEST_TMP/stop.out" 2>&1 || st=$?
cat "$TEST_TMP/stop.out"
[ "$st" -eq 1 ] || fail "initiator stop 0 with $DIR2 in use: exit $st, want 1"
grep -q "$DIR2 is busy" "$TEST_TMP/stop.out" || fail "initiator stop 0 does not say that $DIR2 is busy"
grep -q "$HOLDER (sleep)" "$TEST_TMP/stop.out" || fail "initiator stop 0 does not name the process using $DIR2"
snapshot >"$TEST_TMP/after"
diff -u "$TEST_TMP/before" "$TEST_TMP/after" || fail "the failed initiator stop 0 changed something"
grep -q '^0 running ' "$TEST_TMP/after" || fail "channel 0 is not running after the failed stop"
msg "initiator stop 0 refused while $DIR2 is in use; nothing changed"

st=0
unmap 0 >"$TEST_TMP/unmap.out" 2>&1 || st=$?
cat "$TEST_TMP/unmap.out"
[ "$st" -eq 1 ] || fail "iscsi-unmap-channel 0 with $DIR2 in use: exit $st, want 1"
grep -q "$DIR2 is busy" "$TEST_TMP/unmap.out" || fail "iscsi-unmap-channel 0 does not say that $DIR2 is busy"
snapshot >"$TEST_TMP/after"
diff -u "$TEST_TMP/before" "$TEST_TMP/after" || fail "the failed iscsi-unmap-channel 0 changed something"
msg "iscsi-unmap-channel 0 refused while $DIR2 is in use; nothing changed"

# The daemon refuses on its own too: the loop device holds the LUN file open.
st=0
ctl stop 0 >"$TEST_TMP/ctl.out" 2>&1 || st=$?
cat "$TEST_TMP/ctl.out"
[ "$st" -eq 1 ] || fail "initiator-ctl stop 0 with lun1 under a loop device: exit $st, want 1"
grep -q "busy" "$TEST_TMP/ctl.out" || fail "initiator-ctl stop 0 does not say that the channel is busy"
snapshot >"$TEST_TMP/after"
diff -u "$TEST_TMP/before" "$TEST_TMP/after" || fail "the refused initiator-ctl stop 0 changed something"
msg "initiator-ctl stop 0 refused while lun1 is open; nothing changed"

kill "$HOLDER"
wait "$HOLDER" 2>/dev/null || true

# A user that fuser cannot see: a loop device over a file in the second mount.
# The checks pass, the first umount works, the second fails: the first mount
# must come back.
timeout -k 10 30 truncate -s 1M "$DIR2/inner.img"
INNER=$(timeout -k 10 30 losetup -f --show "$DIR2/inner.img") || fail "losetup over $DIR2/inner.img failed"
defer loop_detach "$INNER" "$DIR2/inner.img"
st=0
initiator stop 0 >"$TEST_TMP/stop.out" 2>&1 || st=$?
cat "$TEST_TMP/stop.out"
[ "$st" -eq 1 ] || fail "initiator stop 0 with a loop device over a file in $DIR2: exit $st, want 1"
grep -q "umount $DIR2 failed" "$TEST_TMP/stop.out" || fail "initiator stop 0 does not say that umount $DIR2 failed"
grep -q "on $DIR1 again" "$TEST_TMP/stop.out" || fail "initiator stop 0 does not say that it mounted $DIR1 again"
snapshot >"$TEST_TMP/after"
diff -u "$TEST_TMP/before" "$TEST_TMP/after" || fail "the failed umount left things changed"
grep -qx data "$DIR1/file" || fail "$DIR1/file lost its content after the remount"
loop_detach "$INNER" "$DIR2/inner.img" || fail "detaching $INNER failed"
rm "$DIR2/inner.img"
msg "a busy mount that fuser cannot see: the other mount was put back, nothing changed"

initiator stop 0 || fail "initiator stop 0 failed once nothing used the mounts"
check_unmapped "initiator stop 0"
[ "$(ctl list | awk '$1 == 0 { print $2 }')" = stopped ] || fail "channel 0 is not stopped after stop"
msg "initiator stop 0 succeeded once the holder was gone"

# FORCE: the users of the mounts are killed, then everything is unmapped.
initiator start 0 || fail "initiator start 0 (again) failed"
grep -qx data "$DIR1/file" || fail "$DIR1/file lost its content"
sleep 600 3<"$DIR1/file" &
HOLDER=$!
defer "kill $HOLDER 2>/dev/null; true"
holder_open() { [ "$(readlink "/proc/$HOLDER/fd/3")" = "$DIR1/file" ]; }
wait_for 10 holder_open || fail "the holder process did not open $DIR1/file"
unmap 0 1 || fail "iscsi-unmap-channel 0 1 failed with a file open on $DIR1"
wait_for 10 pid_gone "$HOLDER" || fail "the holder (pid $HOLDER) survived iscsi-unmap-channel 0 1"
st=0
wait "$HOLDER" 2>/dev/null || st=$?
[ "$st" -eq 137 ] || fail "the holder ended with status $st, want 137 (SIGKILL)"
check_unmapped "iscsi-unmap-channel 0 1"
msg "iscsi-unmap-channel 0 1 killed the holder and unmapped"

initiator stop || fail "the final initiator stop failed"
check_unmapped "initiator stop"
st=0
wait_iscsifs_exit 30 || st=$?
[ "$st" -eq 0 ] || fail "the daemon exited with status $st after initiator stop (124: still running)"
msg "initiator stop ended the daemon"
