#!/usr/bin/env bash
# The daemon mounts the way /etc/fstab and mount(8) start it: for
# 'mount -t fuse.iscsifs iscsifs MNT -o config=...,control_socket=...', mount(8)
# runs 'mount.fuse3 iscsifs MNT -o ... -t fuse.iscsifs', which runs 'iscsifs'
# from PATH with the options. The test makes that helper call itself, with the
# built daemon first on PATH, then goes through mount(8) naming the program in
# the source ('-t fuse prog#source'). Each time the LUN file appears,
# initiator-ctl answers on the socket named in the options, and umount ends
# the daemon.
set -eu
# shellcheck source-path=SCRIPTDIR source=../lib/common.sh
. "${TESTLIB:?TESTLIB must point to tests/lib}/common.sh"
# shellcheck source-path=SCRIPTDIR source=../lib/target.sh
. "$TESTLIB/target.sh"

require_root
require_iscsifs
require_cmd mount umount cmp ss timeout
command -v mount.fuse3 >/dev/null 2>&1 || skip "mount.fuse3 is missing (Debian package fuse3)"
require_isctl

IQN=iqn.2026-11.org.iscsifs.test:fstab
setup_tmpdir
tgt_start
tgt_add_target 1 "$IQN"
tgt_add_lun 1 1 8
tgt_bind 1
BACKING=$TGT_LUN_FILE
iscsifs_config "$(channel_line 0 "$TGT_PORT" "$IQN")"

# mount.fuse3 runs the program named after the type's subtype from PATH.
BIN=$TEST_TMP/bin
mkdir "$BIN"
ln -s "$(readlink -f "$ISCSIFS")" "$BIN/iscsifs"
SOCK=$TEST_TMP/ctl.sock
MNT=$TEST_TMP/mnt
mkdir "$MNT"
E=$ISCSIFS_ETC
OPTS="config=$E/iscsifs.conf,initiator=$E/initiator,auth=$E/initiator_auth,maps=$E/iscsi_device_maps"
OPTS="$OPTS,initiatorname=$E/initiatorname.iscsi,control_socket=$SOCK"

DAEMON_PID=
socket_pid() { ss -Hxlp src "$SOCK" 2>/dev/null | grep -o 'pid=[0-9]*' | head -n 1 | cut -d= -f2; }
teardown() {
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

# check_mount HOW CMD...: CMD mounts on MNT; check the result, then umount.
check_mount() {
	local how=$1 fstype source st
	shift
	timeout -k 10 120 "$@" || fail "$how: $* failed"
	DAEMON_PID=$(socket_pid)
	[ -n "$DAEMON_PID" ] || fail "$how: nothing listens on $SOCK after the mount"
	msg "$how: mounted; daemon pid $DAEMON_PID"

	read -r fstype source < <(awk -v m="$MNT" '$5 == m { for (i = 7; $i != "-"; i++) ; print $(i + 1), $(i + 2) }' \
		/proc/self/mountinfo)
	[ "${fstype:-}" = fuse.iscsifs ] || fail "$how: $MNT has type '${fstype:-}', want fuse.iscsifs"
	[ "${source:-}" = iscsifs ] || fail "$how: $MNT has source '${source:-}', want iscsifs"

	[ -f "$MNT/$IQN/lun1" ] || fail "$how: $MNT/$IQN/lun1 does not exist"
	timeout -k 10 60 cmp "$MNT/$IQN/lun1" "$BACKING" || fail "$how: lun1 does not read as its backing file"
	timeout -k 10 30 "$ISCTL" -s "$SOCK" list >"$TEST_TMP/list" || fail "$how: initiator-ctl -s $SOCK list failed"
	grep -qx "0 running $IQN" "$TEST_TMP/list" || fail "$how: initiator-ctl list: $(cat "$TEST_TMP/list")"
	[ "$(timeout -k 10 30 "$ISCTL" -s "$SOCK" mountpoint)" = "$MNT" ] ||
		fail "$how: initiator-ctl mountpoint does not print $MNT"
	msg "$how: lun1 is there and reads as its backing file; channel 0 running"

	timeout -k 10 60 umount "$MNT" || fail "$how: umount $MNT failed"
	wait_for 30 pid_gone "$DAEMON_PID" || fail "$how: the daemon (pid $DAEMON_PID) still runs 30 s after umount"
	DAEMON_PID=
	[ ! -e "$SOCK" ] || fail "$how: the control socket $SOCK is left behind"
	st=0
	timeout -k 10 30 "$ISCTL" -s "$SOCK" list >/dev/null 2>&1 || st=$?
	[ "$st" -eq 3 ] || fail "$how: initiator-ctl after umount: exit $st, want 3 (not running)"
	msg "$how: umount ended the daemon"
}

# 'mount -t fuse.iscsifs iscsifs MNT -o ...' makes mount(8) run exactly this
# helper command; mount(8) itself would drop PATH from the environment (it
# sanitizes it), so only an installed iscsifs is found that way.
PATH="$BIN:$PATH" check_mount "mount.fuse3 -t fuse.iscsifs" \
	mount.fuse3 iscsifs "$MNT" -o "$OPTS" -t fuse.iscsifs
# Through mount(8), with the program named in the source, as old fstab lines do.
check_mount "mount -t fuse" mount -t fuse "$BIN/iscsifs#iscsifs" "$MNT" -o "$OPTS"
