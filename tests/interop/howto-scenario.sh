#!/usr/bin/env bash
# The core-iscsi howto's scenario (sections 3 and 5) through the init script:
# a target whose LUN 1 holds two ext4 partitions, DEVICE lines mapping them as
# disk1a and disk1b, 'initiator start 0' mounting both on
# <mount_root>/<target>/disk1a and disk1b, files written there surviving
# 'initiator stop 0' (no mount, no loop device left) and a second start, and a
# final 'initiator stop' that unmounts everything and ends the daemon.
set -eu
# shellcheck source-path=SCRIPTDIR source=../lib/common.sh
. "${TESTLIB:?TESTLIB must point to tests/lib}/common.sh"
# shellcheck source-path=SCRIPTDIR source=../lib/target.sh
. "$TESTLIB/target.sh"

: "${SCRIPTS:=$TESTLIB/../../scripts}"

require_root
require_iscsifs
require_loop
require_cmd losetup partx sfdisk blkid mkfs.ext4 mount umount fuser flock ss sha256sum timeout
require_isctl
[ -x "$SCRIPTS/initiator" ] || hard_error "no init script in '$SCRIPTS'"

IQN=iqn.2026-11.org.iscsifs.test:howto
setup_tmpdir
tgt_start
tgt_add_target 1 "$IQN"
tgt_add_lun 1 1 64
tgt_bind 1

ROOT=$TEST_TMP/root
SOCK=$TEST_TMP/ctl.sock
MNT=$TEST_TMP/luns
iscsifs_config "$(channel_line 0 "$TGT_PORT" "$IQN")"
cat >"$ISCSIFS_ETC/iscsi_device_maps" <<'EOF'
DEVICE="0 1 1 disk1a" # channel 0, LUN 1, partition 1
DEVICE="0 1 2 disk1b" # channel 0, LUN 1, partition 2
EOF
cat >"$ISCSIFS_ETC/iscsifs.conf" <<EOF
daemon: {
	mount_root = "$ROOT";
	control_socket = "$SOCK";
};
EOF

# Two partitions with an ext4 file system each, made through a daemon of our own.
PREP=$TEST_TMP/prep
start_iscsifs "$PREP"
loop_attach "$PREP/$IQN/lun1"
printf 'label: dos\n,32MiB,L\n,,L\n' | timeout -k 10 60 sfdisk -q --wipe always "$LOOP" ||
	fail "sfdisk on $LOOP failed"
timeout -k 10 60 partx -a "$LOOP" || fail "partx -a $LOOP failed"
have_parts() { [ -b "${LOOP}p1" ] && [ -b "${LOOP}p2" ]; }
wait_for 10 have_parts || fail "no ${LOOP}p1 and ${LOOP}p2 after partitioning"
for p in 1 2; do
	timeout -k 10 120 mkfs.ext4 -q -F "${LOOP}p$p" || fail "mkfs.ext4 ${LOOP}p$p failed"
done
loop_detach "$LOOP" "$(readlink -f "$PREP/$IQN/lun1")" || fail "detaching $LOOP failed"
stop_iscsifs_checked
msg "LUN 1 has two ext4 partitions"

# The init script and the map scripts, pointed at this test's files. The
# control socket is named only in iscsifs.conf: the init script finds it there.
export ISCSIFS ISCSIFS_CTL=$ISCTL ISCSIFS_MAP_DIR=$SCRIPTS ISCSIFS_MOUNTPOINT=$MNT
export ISCSIFS_CONFIG=$ISCSIFS_ETC/iscsifs.conf
export ISCSIFS_DEFAULTS=/dev/null ISCSIFS_MAP_LOCK=$TEST_TMP/maps.lock
unset ISCSIFS_CONTROL_SOCKET
export ISCSIFS_OPTS="--initiator=$ISCSIFS_ETC/initiator --auth=$ISCSIFS_ETC/initiator_auth --maps=$ISCSIFS_ETC/iscsi_device_maps --initiatorname=$ISCSIFS_ETC/initiatorname.iscsi${ISCSIFS_LOG_LEVEL:+ --log-level=$ISCSIFS_LOG_LEVEL}"
initiator() { timeout -k 10 300 "$SCRIPTS/initiator" "$@"; }

# The daemon the init script starts detaches itself; its PID is the one that
# listens on the control socket.
DAEMON_PID=
socket_pid() { ss -Hxlp src "$SOCK" 2>/dev/null | grep -o 'pid=[0-9]*' | head -n 1 | cut -d= -f2; }
mounts_under() { awk -v d="$1/" 'index($5, d) == 1 { print $5 }' /proc/self/mountinfo | sort -r; }
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
	while read -r m; do
		[ -z "$m" ] || umount_if_mounted "$m" || timeout -k 10 30 umount -l "$m"
	done < <(mounts_under "$ROOT")
	while read -r l f; do
		[ -z "$l" ] || loop_detach "$l" "$f"
	done < <(our_loops)
	[ -n "$DAEMON_PID" ] || DAEMON_PID=$(socket_pid)
	if is_mounted "$MNT"; then
		timeout -k 10 30 umount "$MNT" || timeout -k 10 30 umount -l "$MNT" || true
	fi
	if [ -n "$DAEMON_PID" ] && ! wait_for 30 pid_gone "$DAEMON_PID"; then
		echo "teardown: daemon $DAEMON_PID still running; kill -9" >&2
		kill -9 "$DAEMON_PID" 2>/dev/null || true
	fi
	return 0
}
defer teardown

# LSB exit codes before anything runs.
expect_status() {
	local want=$1 st=0
	shift
	initiator "$@" >"$TEST_TMP/initiator.out" 2>&1 || st=$?
	[ "$st" -eq "$want" ] || fail "initiator $*: exit $st, want $want: $(cat "$TEST_TMP/initiator.out")"
}
expect_status 3 status
expect_status 0 stop
expect_status 7 pause 0
expect_status 3 frobnicate
expect_status 2 start zero
expect_status 2

DIR1=$ROOT/$IQN/disk1a
DIR2=$ROOT/$IQN/disk1b
LUN=$MNT/$IQN/lun1

# mounts_at DIR: how many mounts are stacked on DIR.
mounts_at() { awk -v d="$1" '$5 == d { n++ } END { print n + 0 }' /proc/self/mountinfo; }
fstype_at() { awk -v d="$1" '$5 == d { for (i = 7; $i != "-"; i++) ; t = $(i + 1) } END { print t }' /proc/self/mountinfo; }
source_at() { awk -v d="$1" '$5 == d { for (i = 7; $i != "-"; i++) ; s = $(i + 2) } END { print s }' /proc/self/mountinfo; }

check_mapped() {
	local d loop
	for d in "$DIR1" "$DIR2"; do
		[ "$(mounts_at "$d")" = 1 ] || fail "$d: $(mounts_at "$d") mounts, want 1"
		[ "$(fstype_at "$d")" = ext4 ] || fail "$d has $(fstype_at "$d") mounted, want ext4"
	done
	loop=$(losetup -n -O NAME -j "$LUN")
	[ "$(printf '%s\n' "$loop" | grep -c .)" = 1 ] || fail "want one loop device over $LUN, have: $loop"
	[ "$(source_at "$DIR1")" = "${loop}p1" ] || fail "$DIR1 has $(source_at "$DIR1"), want ${loop}p1"
	[ "$(source_at "$DIR2")" = "${loop}p2" ] || fail "$DIR2 has $(source_at "$DIR2"), want ${loop}p2"
}

check_unmapped() {
	local left
	left=$(mounts_under "$ROOT")
	[ -z "$left" ] || fail "still mounted after $1: $left"
	left=$(our_loops)
	[ -z "$left" ] || fail "loop devices left after $1: $left"
}

ctl() { timeout -k 10 30 "$ISCTL" -s "$SOCK" "$@"; }
channel_state() { ctl list | awk -v c="$1" '$1 == c { print $2 }'; }

# Section 3 B: start channel 0; the daemon comes up, logs in, the maps are mounted.
initiator start 0 || fail "initiator start 0 failed"
DAEMON_PID=$(socket_pid)
[ -n "$DAEMON_PID" ] || fail "nothing listens on $SOCK after initiator start 0"
msg "initiator start 0: daemon pid $DAEMON_PID"
[ "$(channel_state 0)" = running ] || fail "channel 0 is '$(channel_state 0)' after start, want running"
check_mapped
ctl maps 0 >"$TEST_TMP/maps.out" || fail "initiator-ctl maps 0 failed"
printf '0 1 1 disk1a %s %s\n0 1 2 disk1b %s %s\n' "$LUN" "$DIR1" "$LUN" "$DIR2" >"$TEST_TMP/maps.want"
diff -u "$TEST_TMP/maps.want" "$TEST_TMP/maps.out" || fail "initiator-ctl maps 0 differs"
initiator status 0 >"$TEST_TMP/status.out" || fail "initiator status 0 exited $? while running"
msg "disk1a and disk1b are mounted under $ROOT/$IQN"
expect_status 2 start 7

# Mapping twice mounts once.
ISCSIFS_CONTROL_SOCKET=$SOCK timeout -k 10 300 "$SCRIPTS/iscsi-map-channel" 0 || fail "iscsi-map-channel 0 a second time failed"
check_mapped
msg "iscsi-map-channel 0 again: nothing new mounted"

for d in "$DIR1" "$DIR2"; do
	mkdir "$d/files"
	for i in 1 2 3; do
		timeout -k 10 60 dd if=/dev/urandom of="$d/files/f$i" bs=64k count=$((i * 16)) status=none ||
			fail "writing $d/files/f$i failed"
	done
done
(cd "$ROOT" && sha256sum "$IQN"/disk1a/files/* "$IQN"/disk1b/files/*) >"$TEST_TMP/sums"
timeout -k 10 60 sync

# Section 3 C: stop channel 0; everything it mounted goes, the daemon stays.
initiator stop 0 || fail "initiator stop 0 failed"
check_unmapped "initiator stop 0"
[ "$(channel_state 0)" = stopped ] || fail "channel 0 is '$(channel_state 0)' after stop, want stopped"
[ ! -e "$LUN" ] || fail "$LUN still exists after initiator stop 0"
pid_gone "$DAEMON_PID" && fail "the daemon exited on initiator stop 0"
st=0
initiator status 0 >"$TEST_TMP/status.out" 2>&1 || st=$?
[ "$st" -eq 3 ] || fail "initiator status 0 of a stopped channel: exit $st, want 3"
msg "initiator stop 0: no mount, no loop device, channel stopped"

initiator start 0 || fail "the second initiator start 0 failed"
check_mapped
(cd "$ROOT" && timeout -k 10 120 sha256sum -c --quiet "$TEST_TMP/sums") ||
	fail "the files differ after stop and start"
msg "initiator start 0 again: the files are there, same checksums"

# Without a channel, stop takes the daemon down too; a paused channel with
# mounted maps is resumed so that its file systems can be unmounted.
initiator pause 0 || fail "initiator pause 0 failed"
[ "$(channel_state 0)" = paused ] || fail "channel 0 is '$(channel_state 0)' after pause, want paused"
check_mapped
initiator stop || fail "initiator stop failed"
check_unmapped "initiator stop"
is_mounted "$MNT" && fail "$MNT is still mounted after initiator stop"
wait_for 30 pid_gone "$DAEMON_PID" || fail "the daemon (pid $DAEMON_PID) still runs 30 s after initiator stop"
st=0
initiator status >"$TEST_TMP/status.out" 2>&1 || st=$?
[ "$st" -eq 3 ] || fail "initiator status after stop: exit $st, want 3"
msg "initiator stop: nothing mounted, the daemon is gone"
