#!/usr/bin/env bash
# The howto's Example 2 as an administrator sets it up, under the init script
# against tgtd, with the howto's own target names in mixed case
# (iqn.2005-04.com.example.target.mipsEE:sn.1234567890 and
# iqn.2005-04.com.example.target.gekko:sn.0987654321). The files are the shipped
# examples (conf/): initiator with its addresses turned into this machine's and
# the target names added, initiator_auth as it is (channel 0 logs in with mutual
# CHAP), iscsi_device_maps with its eight DEVICE lines. 'initiator start' mounts
# every DEVICE line on <mount_root>/<target as written>/<name>, each with its
# own partition's contents: a file naming the target, LUN and partition, and
# data of a known checksum; dvd0 is a CD LUN holding a squashfs image, mounted
# whole and read-only. 'initiator status' passes, and 'initiator stop' takes
# every mount, loop device and the daemon down.
#
# tgtd keeps LUN 0 for its controller, so the howto's LUNs 0, 1 and 2 are
# tgtd's 1, 2 and 3 here, and the DEVICE lines say so.
set -eu
# shellcheck source-path=SCRIPTDIR source=../lib/common.sh
. "${TESTLIB:?TESTLIB must point to tests/lib}/common.sh"
# shellcheck source-path=SCRIPTDIR source=../lib/target.sh
. "$TESTLIB/target.sh"

: "${SCRIPTS:=$TESTLIB/../../scripts}"
: "${CONFDIR:=$TESTLIB/../../conf}"

require_root
require_iscsifs
require_loop
require_cmd losetup partx sfdisk blkid mkfs.ext4 mksquashfs mount umount fuser flock ss \
	sha256sum truncate timeout
require_isctl
[ -x "$SCRIPTS/initiator" ] || hard_error "no init script in '$SCRIPTS'"
grep -qw squashfs /proc/filesystems || modprobe squashfs 2>/dev/null || true
grep -qw squashfs /proc/filesystems || skip "this kernel has no squashfs for the DVD image"

T0=iqn.2005-04.com.example.target.mipsEE:sn.1234567890
T1=iqn.2005-04.com.example.target.gekko:sn.0987654321
INITIATOR=iqn.2005-04.com.example.Initiator:Host1
setup_tmpdir
# The second portal of channel 1 is [::1] where it can be, else the same address unbound.
ADDR2=::1
DEV2=lo
if ! (require_ipv6_loopback) >/dev/null 2>&1; then
	ADDR2=127.0.0.1
	DEV2=
fi

ROOT=$TEST_TMP/root
SOCK=$TEST_TMP/ctl.sock
MNT=$TEST_TMP/luns
ETC=$TEST_TMP/etc
mkdir -p "$ETC"

# --- the configuration, from the shipped examples ---
tgt_start
[ "$ADDR2" = 127.0.0.1 ] || tgt_add_portal ::1
sed -e "s|^CHANNEL=\"0 1 eth0 192\.168\.0\.1 3260 0 \(.*\)\"$|CHANNEL=\"0 1 lo 127.0.0.1 $TGT_PORT 0 \1 $T0\"|" \
	-e "s|^CHANNEL=\"1 2 eth0 192\.168\.0\.2 3260 0 \(.*\)\"$|CHANNEL=\"1 2 lo 127.0.0.1 $TGT_PORT 0 \1 $T1\"|" \
	-e "s|^CHANNEL=\"1 2 eth1 192\.168\.1\.2 3260 0\"$|CHANNEL=\"1 2 $DEV2 $ADDR2 $TGT_PORT 0\"|" \
	"$CONFDIR/initiator" >"$ETC/initiator"
[ "$(grep -c "^CHANNEL=.* $TGT_PORT 0" "$ETC/initiator")" = 3 ] ||
	hard_error "conf/initiator no longer has the howto's three CHANNEL lines"
install -m 600 "$CONFDIR/initiator_auth" "$ETC/initiator_auth"
awk '/^DEVICE="/ { $2 = $2 + 1 } { print }' "$CONFDIR/iscsi_device_maps" >"$ETC/iscsi_device_maps"
[ "$(grep -c '^DEVICE=' "$ETC/iscsi_device_maps")" = 8 ] ||
	hard_error "conf/iscsi_device_maps no longer has the howto's eight DEVICE lines"
printf 'InitiatorName=%s\n' "$INITIATOR" >"$ETC/initiatorname.iscsi"
cat >"$ETC/iscsifs.conf" <<EOF
daemon: {
	mount_root = "$ROOT";
	control_socket = "$SOCK";
};
EOF
show_on_failure "$ETC/initiator"
show_on_failure "$ETC/iscsi_device_maps"
grep '^CHANNEL=' "$ETC/initiator" | sed 's/^/    /'

# --- the LUNs: one image per LUN the DEVICE lines name, made from their partitions ---
# The DEVICE lines as "channel lun partition name".
mapfile -t DEVICES < <(sed -n 's/^DEVICE="\([^"]*\)".*/\1/p' "$ETC/iscsi_device_maps")
target_of() { if [ "$1" = 0 ]; then echo "$T0"; else echo "$T1"; fi; }
# What partition P of tgtd LUN L of channel C holds in its file howto-id.
id_of() { printf '%s LUN %s partition %s\n' "$(target_of "$1")" $(($2 - 1)) "$3"; }

# content CH LUN PART: a directory with howto-id and 192 KiB of random data.
content() {
	local dir=$TEST_TMP/content/$1-$2-$3
	mkdir -p "$dir"
	id_of "$1" "$2" "$3" >"$dir/howto-id"
	head -c 196608 /dev/urandom >"$dir/data"
	(cd "$dir" && sha256sum data) >"$TEST_TMP/sum-$1-$2-$3"
	printf '%s\n' "$dir"
}

# disk_image CH LUN NPARTS FILE: a DOS label with NPARTS ext4 partitions over 32 MiB.
disk_image() {
	local ch=$1 lun=$2 n=$3 file=$4 p start size dir
	truncate -s 32M "$file"
	if [ "$n" -ge 2 ]; then
		printf 'label: dos\n,16MiB,L\n,,L\n'
	else
		printf 'label: dos\n,,L\n'
	fi | timeout -k 10 60 sfdisk -q "$file" || fail "sfdisk on $file failed"
	for p in $(seq "$n"); do
		read -r start size < <(sfdisk -d "$file" | sed -n "s|^$file$p : start= *\([0-9]*\), size= *\([0-9]*\),.*|\1 \2|p")
		[ -n "$size" ] || fail "no partition $p in $file"
		dir=$(content "$ch" "$lun" "$p")
		timeout -k 10 120 mkfs.ext4 -q -F -E offset=$((start * 512)) -d "$dir" "$file" "$((size / 2))k" ||
			fail "mkfs.ext4 on partition $p of $file failed"
	done
}

declare -A NPARTS=()
for d in "${DEVICES[@]}"; do
	read -r ch lun part _ <<<"$d"
	[ -n "${NPARTS[$ch:$lun]:-}" ] && [ "${NPARTS[$ch:$lun]}" -ge "$part" ] || NPARTS[$ch:$lun]=$part
done
tgt_add_target 1 "$T0"
tgt_add_target 2 "$T1"
for key in "${!NPARTS[@]}"; do
	ch=${key%%:*}
	lun=${key#*:}
	file=/dev/shm/iscsifs-test-$$-howto2-$ch-$lun.img
	if [ "${NPARTS[$key]}" = 0 ]; then
		# A DVD image, used whole: squashfs (this kernel has no iso9660), 2048-byte blocks.
		timeout -k 10 120 mksquashfs "$(content "$ch" "$lun" 0)" "$file" -quiet -noappend -all-root \
			>/dev/null || fail "mksquashfs failed"
		truncate -s $((($(stat -c %s "$file") + 2047) / 2048 * 2048)) "$file"
		tgt_add_lun_file $((ch + 1)) "$lun" "$file" cd
	else
		disk_image "$ch" "$lun" "${NPARTS[$key]}" "$file"
		tgt_add_lun_file $((ch + 1)) "$lun" "$file"
	fi
done
# initiator_auth's channel 0 line: someuser answers tgtd, someuser_ma is tgtd's answer.
read -r _ _ IUSER ISECRET TUSER TSECRET < <(sed -n 's/^AUTH="\(0 1 [^"]*\)".*/\1/p' "$ETC/initiator_auth")
[ -n "${TSECRET:-}" ] || hard_error "conf/initiator_auth has no mutual AUTH line for channel 0"
tgt_cfg --op new --mode account --user "$IUSER" --password "$ISECRET" || fail "tgtadm: account $IUSER"
tgt_cfg --op new --mode account --user "$TUSER" --password "$TSECRET" || fail "tgtadm: account $TUSER"
tgt_cfg --op bind --mode account --tid 1 --user "$IUSER" || fail "tgtadm: bind $IUSER"
tgt_cfg --op bind --mode account --tid 1 --user "$TUSER" --outgoing || fail "tgtadm: bind $TUSER outgoing"
tgt_bind 1
tgt_bind 2
msg "tgtd serves $T0 and $T1 with ${#NPARTS[@]} LUNs"

# --- the init script, pointed at this test's files ---
export ISCSIFS ISCSIFS_CTL=$ISCTL ISCSIFS_MAP_DIR=$SCRIPTS ISCSIFS_MOUNTPOINT=$MNT
export ISCSIFS_CONFIG=$ETC/iscsifs.conf
export ISCSIFS_DEFAULTS=/dev/null ISCSIFS_MAP_LOCK=$TEST_TMP/maps.lock
unset ISCSIFS_CONTROL_SOCKET
export ISCSIFS_OPTS="--initiator=$ETC/initiator --auth=$ETC/initiator_auth --maps=$ETC/iscsi_device_maps --initiatorname=$ETC/initiatorname.iscsi${ISCSIFS_LOG_LEVEL:+ --log-level=$ISCSIFS_LOG_LEVEL}"
initiator() { timeout -k 10 300 "$SCRIPTS/initiator" "$@"; }
ctl() { timeout -k 10 30 "$ISCTL" -s "$SOCK" "$@"; }

DAEMON_PID=
socket_pid() { ss -Hxlp src "$SOCK" 2>/dev/null | grep -o 'pid=[0-9]*' | head -n 1 | cut -d= -f2; }
mounts_under() { awk -v d="$1/" 'index($5, d) == 1 { print $5 }' /proc/self/mountinfo | sort -r; }
mounts_at() { awk -v d="$1" '$5 == d { n++ } END { print n + 0 }' /proc/self/mountinfo; }
fstype_at() { awk -v d="$1" '$5 == d { for (i = 7; $i != "-"; i++) ; t = $(i + 1) } END { print t }' /proc/self/mountinfo; }
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

initiator start >"$TEST_TMP/start.out" 2>&1 || fail "initiator start failed: $(cat "$TEST_TMP/start.out")"
show_on_failure "$TEST_TMP/start.out"
DAEMON_PID=$(socket_pid)
[ -n "$DAEMON_PID" ] || fail "nothing listens on $SOCK after initiator start"
msg "initiator start: daemon pid $DAEMON_PID"

# The directories under the mount point are named as the targets write their names.
[ "$(timeout -k 10 30 ls "$MNT" | grep '^iqn\.' | sort | tr '\n' ' ')" = "$T1 $T0 " ] ||
	fail "$MNT does not hold $T0 and $T1 as written: $(ls "$MNT")"
for ch in 0 1; do
	[ "$(ctl list | awk -v c="$ch" '$1 == c { print $2, $3 }')" = "running $(target_of "$ch")" ] ||
		fail "channel $ch is not running with target $(target_of "$ch"): $(ctl list)"
done

# Every DEVICE line: one mount on <root>/<target>/<name>, holding its own partition.
for d in "${DEVICES[@]}"; do
	read -r ch lun part name <<<"$d"
	dir=$ROOT/$(target_of "$ch")/$name
	[ "$(mounts_at "$dir")" = 1 ] || fail "DEVICE \"$d\": $(mounts_at "$dir") mounts on $dir, want 1"
	want=ext4
	[ "$part" != 0 ] || want=squashfs
	[ "$(fstype_at "$dir")" = "$want" ] || fail "DEVICE \"$d\": $dir has $(fstype_at "$dir"), want $want"
	[ "$(cat "$dir/howto-id")" = "$(id_of "$ch" "$lun" "$part")" ] ||
		fail "DEVICE \"$d\": $dir holds '$(cat "$dir/howto-id")', want '$(id_of "$ch" "$lun" "$part")'"
	(cd "$dir" && timeout -k 10 60 sha256sum -c --quiet "$TEST_TMP/sum-$ch-$lun-$part") ||
		fail "DEVICE \"$d\": the data in $dir differs"
	msg "DEVICE \"$d\" -> $dir ($want): $(cat "$dir/howto-id")"
done
DVD=$ROOT/$T1/dvd0
! touch "$DVD/new" 2>/dev/null || fail "$DVD is writable"
[ "$(grep -c . < <(our_loops))" = "${#NPARTS[@]}" ] ||
	fail "want ${#NPARTS[@]} loop devices (one per LUN mapped), have: $(our_loops)"

initiator status >"$TEST_TMP/status.out" 2>&1 || fail "initiator status exited $? while running"
show_on_failure "$TEST_TMP/status.out"
grep -qF "target $T0" "$TEST_TMP/status.out" || fail "initiator status does not name $T0"
grep -qF "target $T1" "$TEST_TMP/status.out" || fail "initiator status does not name $T1"
msg "initiator status names both targets as written"

initiator stop >"$TEST_TMP/stop.out" 2>&1 || fail "initiator stop failed: $(cat "$TEST_TMP/stop.out")"
left=$(mounts_under "$ROOT")
[ -z "$left" ] || fail "still mounted after initiator stop: $left"
left=$(our_loops)
[ -z "$left" ] || fail "loop devices left after initiator stop: $left"
is_mounted "$MNT" && fail "$MNT is still mounted after initiator stop"
wait_for 30 pid_gone "$DAEMON_PID" || fail "the daemon (pid $DAEMON_PID) still runs 30 s after initiator stop"
msg "initiator stop: nothing mounted, no loop device, the daemon is gone"
