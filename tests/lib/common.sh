# shellcheck shell=bash
# Helpers for the interop tests: skip/fail with automake's exit codes, a temp
# directory with a cleanup stack run on exit, bounded waits, and starting and
# stopping the iscsifs daemon against files written into the temp directory.
#
# Exit codes (automake test harness): 0 pass, 1 fail, 77 skip, 99 hard error.

PATH=$PATH:/usr/sbin:/sbin
export PATH

: "${TESTLIB:=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)}"
: "${ISCSIFS:=$TESTLIB/../../build/iscsifs}"
: "${ISCSIFS_LOG_LEVEL=debug}"       # empty: run the daemon at its default level
: "${ISCSIFS_START_TIMEOUT:=30}"     # seconds from start to mount (or failure)
: "${ISCSIFS_STOP_TIMEOUT:=30}"      # seconds from umount to exit

TEST_NAME=${0##*/}
TEST_NAME=${TEST_NAME%.sh}
TEST_INITIATOR_IQN=iqn.2026-11.org.iscsifs.test:initiator
TEST_TMP=
ISCSIFS_PID=
ISCSIFS_MNT=
ISCSIFS_LOG=
ISCSIFS_ETC=

_CLEANUP=()          # commands run in reverse order on exit
_FAILURE_LOGS=()     # files printed when the test does not pass
_COMMON_PID=
_ISCSIFS_SEQ=0
declare -A _ISCSIFS_STATUS=()   # pid -> exit status, once reaped

msg() { printf '%s: %s\n' "$TEST_NAME" "$*"; }
fail() { printf '%s: FAIL: %s\n' "$TEST_NAME" "$*" >&2; exit 1; }
skip() { printf '%s: SKIP: %s\n' "$TEST_NAME" "$*" >&2; exit 77; }
hard_error() { printf '%s: ERROR: %s\n' "$TEST_NAME" "$*" >&2; exit 99; }

require_root() {
	[ "$(id -u)" -eq 0 ] || skip "must run as root (FUSE mounts, tgtd, loop devices)"
}

require_cmd() {
	local c missing=()
	for c in "$@"; do
		command -v "$c" >/dev/null 2>&1 || missing+=("$c")
	done
	[ "${#missing[@]}" -eq 0 ] || skip "missing command(s): ${missing[*]}"
}

require_fuse() {
	[ -c /dev/fuse ] || skip "no /dev/fuse (modprobe fuse?)"
	grep -qw fuse /proc/filesystems || skip "kernel has no fuse filesystem"
}

require_loop() {
	[ -c /dev/loop-control ] || skip "no /dev/loop-control (modprobe loop?)"
}

# The daemon is built by 'make check' itself, so its absence is an error, not a skip.
require_iscsifs() {
	[ -x "$ISCSIFS" ] || hard_error "daemon binary '$ISCSIFS' is missing: build first"
	require_fuse
	require_cmd umount timeout
}

# initiator-ctl, next to the daemon unless ISCTL names one; built with it, so an error too.
require_isctl() {
	: "${ISCTL:=$(dirname "$ISCSIFS")/initiator-ctl}"
	[ -x "$ISCTL" ] || hard_error "initiator-ctl '$ISCTL' is missing: build first"
}

# defer CMD [ARG...]: run at exit, last registered first. One argument is taken
# as a shell command line (eval'd); several are quoted word by word.
defer() {
	[ "$BASHPID" = "$_COMMON_PID" ] ||
		hard_error "defer called in a subshell or before setup_tmpdir: $*"
	if [ "$#" -eq 1 ]; then
		_CLEANUP+=("$1")
	else
		_CLEANUP+=("$(printf '%q ' "$@")")
	fi
}

# show_on_failure FILE: print FILE at exit when the test did not pass.
show_on_failure() { _FAILURE_LOGS+=("$1"); }

_common_exit() {
	local status=$? i f
	set +e
	trap - EXIT INT TERM HUP
	for ((i = ${#_CLEANUP[@]} - 1; i >= 0; i--)); do
		eval "${_CLEANUP[i]}"
	done
	if [ "$status" -ne 0 ] && [ "$status" -ne 77 ]; then
		for f in "${_FAILURE_LOGS[@]}"; do
			[ -f "$f" ] || continue
			printf '\n===== %s =====\n' "$f" >&2
			tail -n 400 "$f" >&2
		done
	fi
	if [ -n "$TEST_TMP" ] && [ -d "$TEST_TMP" ]; then
		if awk -v d="$TEST_TMP/" 'index($5 "/", d) == 1 { found = 1 } END { exit !found }' \
			/proc/self/mountinfo; then
			printf '%s: WARNING: something is still mounted under %s; not removing it\n' \
				"$TEST_NAME" "$TEST_TMP" >&2
		elif [ "${KEEP_TMP:-0}" = 1 ]; then
			printf '%s: kept %s\n' "$TEST_NAME" "$TEST_TMP" >&2
		else
			rm -rf --one-file-system "$TEST_TMP"
		fi
	fi
	exit "$status"
}

# Creates TEST_TMP and installs the exit trap that runs the cleanup stack.
setup_tmpdir() {
	_COMMON_PID=$BASHPID
	TEST_TMP=$(mktemp -d "${TMPDIR:-/tmp}/iscsifs-$TEST_NAME.XXXXXX") ||
		hard_error "mktemp failed"
	trap _common_exit EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	trap 'exit 129' HUP
}

# wait_for SECONDS CMD [ARG...]: poll CMD every 0.1 s until it succeeds (0) or
# SECONDS pass (1). (EPOCHREALTIME's decimal mark follows the locale.)
wait_for() {
	local secs=$1 now deadline
	shift
	now=${EPOCHREALTIME//[!0-9]/}
	deadline=$((now + secs * 1000000))
	while :; do
		"$@" && return 0
		now=${EPOCHREALTIME//[!0-9]/}
		[ "$now" -lt "$deadline" ] || return 1
		sleep 0.1
	done
}

pid_gone() { ! kill -0 "$1" 2>/dev/null; }

# netns_links NAME OCTET COUNT: a network namespace of this test's own ($NS) and
# COUNT veth links into it. Link i has 10.(OCTET+i-1).R.1/30 on its host end
# (device $VH<i>) and .2 inside; $NET<i> is the first three octets. Tests that
# run side by side pass OCTETs whose ranges do not overlap. Skips when
# namespaces or veth pairs cannot be made here; everything goes at exit.
netns_links() {
	local name=$1 octet=$2 count=$3 base i vh vn net
	NS=iscsifs-$name-$$
	ip netns add "$NS" 2>/dev/null || skip "cannot create a network namespace here"
	defer "ip netns del $NS"
	ip -n "$NS" link set lo up
	base=$((RANDOM % 100 + 20))
	for i in $(seq "$count"); do
		vh=ifh$i$$
		vn=ifn$i$$
		net=10.$((octet + i - 1)).$base
		ip link add "$vh" type veth peer name "$vn" 2>/dev/null || skip "cannot create a veth pair here"
		defer "ip link del $vh"
		ip link set "$vn" netns "$NS"
		ip addr add "$net.1/30" dev "$vh"
		ip link set "$vh" up
		ip -n "$NS" addr add "$net.2/30" dev "$vn"
		ip -n "$NS" link set "$vn" up
		printf -v "VH$i" '%s' "$vh"
		printf -v "NET$i" '%s' "$net"
	done
}

# in_netns NS CMD...: runs CMD in the network namespace NS (made by
# "ip netns add") and nothing else. Unlike "ip netns exec" it makes no mount
# namespace: a copy of the mount table would hold every FUSE mount of the
# moment (another test's too), and such a mount outlives its umount until
# CMD exits. nsenter execs CMD in place, so $! of "in_netns ... &" is CMD's PID.
in_netns() {
	local ns=$1
	shift
	nsenter "--net=/run/netns/$ns" -- "$@"
}

# Reads the mount table rather than stat()ing the path, which fails on a FUSE
# mount whose daemon died.
is_mounted() {
	awk -v m="$1" '$5 == m { found = 1 } END { exit !found }' /proc/self/mountinfo
}

# A TCP port that nobody listens on, on 127.0.0.1 and (where there is one) on ::1,
# so that a target can listen on either or both; chosen below the ephemeral range
# so outgoing connections do not take it in the meantime.
free_port() {
	python3 - <<'EOF'
import errno, random, socket
try:
    with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
        low = int(f.read().split()[0])
except OSError:
    low = 32768
hi = max(low, 10001)

def free(family, addr, port):
    s = socket.socket(family)
    try:
        s.bind((addr, port))
        return True
    except OSError as e:
        # No ::1 here at all: only 127.0.0.1 counts.
        return family == socket.AF_INET6 and e.errno in (errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT)
    finally:
        s.close()

for _ in range(200):
    port = random.randrange(10000, hi)
    if free(socket.AF_INET, "127.0.0.1", port) and free(socket.AF_INET6, "::1", port):
        print(port)
        break
else:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    print(s.getsockname()[1])
    s.close()
EOF
}

# portal_of ADDR PORT: "ADDR:PORT", an IPv6 address in brackets ("[::1]:3260"), as
# targets, the daemon's status and its by-path names write a portal.
portal_of() {
	case $1 in
	*:*) printf '[%s]:%s\n' "$1" "$2" ;;
	*) printf '%s:%s\n' "$1" "$2" ;;
	esac
}

# require_ipv6_loopback: skips, saying why, unless ::1 is configured on lo and a
# TCP socket can listen on it.
require_ipv6_loopback() {
	local why
	[ -e /proc/net/if_inet6 ] || skip "this kernel has no IPv6 (no /proc/net/if_inet6)"
	if [ "$(cat /proc/sys/net/ipv6/conf/lo/disable_ipv6 2>/dev/null || echo 0)" = 1 ]; then
		skip "IPv6 is disabled on lo (net.ipv6.conf.lo.disable_ipv6 = 1)"
	fi
	grep -q '^0\{31\}1 ' /proc/net/if_inet6 || skip "::1 is not configured on lo"
	why=$(python3 -c 'import socket; s = socket.socket(socket.AF_INET6); s.bind(("::1", 0)); s.listen(1)' 2>&1) ||
		skip "cannot listen on ::1: ${why##*$'\n'}"
}

# hosts_add NAME ADDR...: /etc/hosts maps NAME to each ADDR until the test ends;
# the file is then put back as it was, byte for byte, whether the test passed or
# not (only our own lines are taken out if someone else changed it meanwhile).
# Calling it again replaces this test's lines.
HOSTS_FILE=${HOSTS_FILE:-/etc/hosts}
_HOSTS_ORIG=
_HOSTS_MARK=
hosts_add() {
	local name=$1 addr
	shift
	if [ -z "$_HOSTS_ORIG" ]; then
		_HOSTS_ORIG=$TEST_TMP/hosts.orig
		_HOSTS_MARK="# iscsifs test $TEST_NAME $$"
		cp -p -- "$HOSTS_FILE" "$_HOSTS_ORIG" || hard_error "cannot copy $HOSTS_FILE"
		defer hosts_restore
	fi
	cp -- "$_HOSTS_ORIG" "$TEST_TMP/hosts.new" || hard_error "cannot copy $_HOSTS_ORIG"
	# A file that does not end in a newline must not swallow our first line.
	if [ -s "$_HOSTS_ORIG" ] && [ "$(tail -c 1 "$_HOSTS_ORIG" | od -An -c | tr -d ' ')" != '\n' ]; then
		echo >>"$TEST_TMP/hosts.new"
	fi
	for addr in "$@"; do
		printf '%s %s %s\n' "$addr" "$name" "$_HOSTS_MARK" >>"$TEST_TMP/hosts.new"
	done
	_hosts_put "$TEST_TMP/hosts.new" || hard_error "cannot write $HOSTS_FILE"
	cp -- "$TEST_TMP/hosts.new" "$TEST_TMP/hosts.ours"
	msg "$HOSTS_FILE: $name -> $*"
}

# _hosts_put FILE: HOSTS_FILE gets FILE's content (and keeps its own mode and
# owner): by rename where it can, so that no reader sees half a file, else in
# place (a bind-mounted /etc/hosts cannot be renamed over).
_hosts_put() {
	local tmp
	tmp=$(dirname "$HOSTS_FILE")/.hosts.iscsifs-test.$$
	if cp -p -- "$_HOSTS_ORIG" "$tmp" 2>/dev/null && cat -- "$1" >"$tmp" &&
		mv -f -- "$tmp" "$HOSTS_FILE" 2>/dev/null; then
		return 0
	fi
	rm -f -- "$tmp"
	cat -- "$1" >"$HOSTS_FILE"
}

# hosts_restore: for the cleanup stack (hosts_add registers it).
hosts_restore() {
	[ -n "$_HOSTS_ORIG" ] || return 0
	if cmp -s "$HOSTS_FILE" "$TEST_TMP/hosts.ours" || cmp -s "$HOSTS_FILE" "$_HOSTS_ORIG"; then
		_hosts_put "$_HOSTS_ORIG" || echo "hosts_restore: cannot write $HOSTS_FILE" >&2
	else
		echo "hosts_restore: $HOSTS_FILE changed meanwhile; taking out our lines only" >&2
		grep -vF -- "$_HOSTS_MARK" "$HOSTS_FILE" >"$TEST_TMP/hosts.theirs" || true
		_hosts_put "$TEST_TMP/hosts.theirs" || echo "hosts_restore: cannot write $HOSTS_FILE" >&2
	fi
	if grep -qF -- "$_HOSTS_MARK" "$HOSTS_FILE"; then
		echo "hosts_restore: our lines are still in $HOSTS_FILE" >&2
		return 1
	fi
	_HOSTS_ORIG=
	return 0
}

port_listening() {
	ss -Hltn "sport = :$1" 2>/dev/null | grep -q .
}

# channel_line ID PORT [TARGET-IQN]: the value of one CHANNEL line for a target
# on 127.0.0.1. CHANNEL_KEYS and CHANNEL_ATTRS override the defaults.
channel_line() {
	local line="$1 1 ${CHANNEL_ADDR:-127.0.0.1} $2 0 ${CHANNEL_KEYS:-AuthMethod=None} ${CHANNEL_ATTRS:-nopout_timeout=5}"
	[ "$#" -lt 3 ] || line="$line $3"
	printf '%s\n' "$line"
}

# iscsifs_config CHANNEL-VALUE...: writes the daemon's files into
# $TEST_TMP/etc: one CHANNEL line per argument, the test initiator name, an
# empty settings file and empty maps; the auth file is left absent.
iscsifs_config() {
	local c
	ISCSIFS_ETC=$TEST_TMP/etc
	mkdir -p "$ISCSIFS_ETC"
	: >"$ISCSIFS_ETC/iscsifs.conf"
	: >"$ISCSIFS_ETC/iscsi_device_maps"
	rm -f "$ISCSIFS_ETC/initiator_auth"
	printf 'InitiatorName=%s\n' "$TEST_INITIATOR_IQN" >"$ISCSIFS_ETC/initiatorname.iscsi"
	for c in "$@"; do
		printf 'CHANNEL="%s"\n' "$c"
	done >"$ISCSIFS_ETC/initiator"
}

# iscsifs_spawn MNT [DAEMON-ARG...]: starts the daemon in the foreground mode
# in the background, without waiting for anything. Sets ISCSIFS_PID,
# ISCSIFS_MNT, ISCSIFS_LOG and registers its stop for exit.
iscsifs_spawn() {
	local mnt=$1 cmd
	shift
	[ -n "$ISCSIFS_ETC" ] || hard_error "call iscsifs_config before starting the daemon"
	mkdir -p "$mnt"
	_ISCSIFS_SEQ=$((_ISCSIFS_SEQ + 1))
	ISCSIFS_LOG=$TEST_TMP/iscsifs.$_ISCSIFS_SEQ.log
	cmd=("$ISCSIFS" -f)
	[ -z "$ISCSIFS_LOG_LEVEL" ] || cmd+=("--log-level=$ISCSIFS_LOG_LEVEL")
	cmd+=("--config=$ISCSIFS_ETC/iscsifs.conf"
		"--initiator=$ISCSIFS_ETC/initiator"
		"--auth=$ISCSIFS_ETC/initiator_auth"
		"--maps=$ISCSIFS_ETC/iscsi_device_maps"
		"--initiatorname=$ISCSIFS_ETC/initiatorname.iscsi"
		"--control-socket=$ISCSIFS_ETC/control.sock"
		"$@" "$mnt")
	printf '%q ' "${cmd[@]}" >"$ISCSIFS_LOG"
	printf '\n' >>"$ISCSIFS_LOG"
	"${cmd[@]}" </dev/null >>"$ISCSIFS_LOG" 2>&1 &
	ISCSIFS_PID=$!
	ISCSIFS_MNT=$mnt
	show_on_failure "$ISCSIFS_LOG"
	defer stop_iscsifs "$ISCSIFS_PID" "$mnt"
}

# Records the exit status of a daemon that has exited.
_iscsifs_reap() {
	local pid=$1 st=0
	[ -z "${_ISCSIFS_STATUS[$pid]:-}" ] || return 0
	wait "$pid" 2>/dev/null || st=$?
	_ISCSIFS_STATUS[$pid]=$st
}

# wait_iscsifs_exit SECONDS [PID]: waits for the daemon to exit on its own;
# returns its exit status, or 124 if it is still running.
wait_iscsifs_exit() {
	local pid=${2:-$ISCSIFS_PID}
	wait_for "$1" pid_gone "$pid" || return 124
	_iscsifs_reap "$pid"
	return "${_ISCSIFS_STATUS[$pid]}"
}

_iscsifs_up() { is_mounted "$1" || pid_gone "$2"; }

# start_iscsifs MNT [DAEMON-ARG...]: starts the daemon and waits until MNT is
# mounted; fails the test (with the daemon's log) if it exits or times out.
start_iscsifs() {
	local st
	iscsifs_spawn "$@"
	wait_for "$ISCSIFS_START_TIMEOUT" _iscsifs_up "$ISCSIFS_MNT" "$ISCSIFS_PID" ||
		fail "no mount at $ISCSIFS_MNT after ${ISCSIFS_START_TIMEOUT}s"
	if pid_gone "$ISCSIFS_PID"; then
		st=0
		wait_iscsifs_exit 0 || st=$?
		fail "daemon exited with status $st before mounting"
	fi
	msg "iscsifs (pid $ISCSIFS_PID) mounted at $ISCSIFS_MNT"
}

# stop_iscsifs [PID MNT]: unmounts, waits (bounded) for the daemon to log out
# and exit, kills it by PID as a last resort. Returns the daemon's exit status
# (137 if it had to be killed). Safe to call more than once.
stop_iscsifs() {
	local pid=${1:-$ISCSIFS_PID} mnt=${2:-$ISCSIFS_MNT} killed=0
	[ -n "$pid" ] || return 0
	if is_mounted "$mnt"; then
		timeout -k 10 30 umount "$mnt" 2>/dev/null ||
			timeout -k 10 30 fusermount3 -u "$mnt" 2>/dev/null ||
			echo "stop_iscsifs: umount $mnt failed" >&2
	fi
	if ! wait_for "$ISCSIFS_STOP_TIMEOUT" pid_gone "$pid"; then
		echo "stop_iscsifs: daemon $pid still running ${ISCSIFS_STOP_TIMEOUT}s after umount; killing it" >&2
		# Where it hangs is worth more than the kill: every thread's stack.
		if command -v gdb >/dev/null 2>&1; then
			timeout -k 5 30 gdb -batch -p "$pid" -ex "thread apply all bt" >&2 2>&1 || true
		fi
		kill -9 "$pid" 2>/dev/null || true
		wait_for 10 pid_gone "$pid" || echo "stop_iscsifs: daemon $pid survived kill -9" >&2
		killed=1
	fi
	if is_mounted "$mnt"; then
		timeout -k 10 30 umount -l "$mnt" 2>/dev/null || echo "stop_iscsifs: lazy umount $mnt failed" >&2
	fi
	_iscsifs_reap "$pid"
	[ "$killed" = 0 ] || return 137
	return "${_ISCSIFS_STATUS[$pid]}"
}

# stop_iscsifs_checked: stop the current daemon; fail unless it exited with 0
# (a sanitizer report or a failed logout makes it non-zero).
stop_iscsifs_checked() {
	local st=0
	stop_iscsifs "$ISCSIFS_PID" "$ISCSIFS_MNT" || st=$?
	[ "$st" -eq 0 ] || fail "daemon exited with status $st after umount"
	msg "iscsifs unmounted and exited cleanly"
}

# Best effort: later reads come from the devices, not the page cache.
drop_caches() {
	sync
	if ! (echo 3 >/proc/sys/vm/drop_caches) 2>/dev/null; then
		msg "cannot drop the page cache here; reads may be served from it"
	fi
}

# umount_if_mounted DIR: for the cleanup stack.
umount_if_mounted() {
	is_mounted "$1" || return 0
	timeout -k 10 120 umount "$1" || { echo "cleanup: umount $1 failed" >&2; return 1; }
}

# The file a loop device is attached to, or nothing.
loop_backing() {
	cat "/sys/block/${1#/dev/}/loop/backing_file" 2>/dev/null || true
}

_loop_released() { [ "$(loop_backing "$1")" != "$2" ]; }

# loop_attach FILE: attaches a loop device (with partition scanning) over FILE;
# sets LOOP and registers its detach.
loop_attach() {
	local file
	file=$(readlink -f "$1")
	LOOP=$(timeout -k 10 60 losetup -P -f --show "$file") || fail "losetup over $file failed"
	defer loop_detach "$LOOP" "$file"
}

# loop_detach LOOP FILE: detaches LOOP if it is still attached to FILE (not if
# someone else has taken the device since), its partitions first; waits until
# the kernel has let go of FILE.
loop_detach() {
	local loop=$1 file=$2
	[ "$(loop_backing "$loop")" = "$file" ] || return 0
	timeout -k 10 60 partx -d "$loop" 2>/dev/null || true
	timeout -k 10 60 losetup -d "$loop" || { echo "losetup -d $loop failed" >&2; return 1; }
	wait_for 10 _loop_released "$loop" "$file" || { echo "$loop still holds $file" >&2; return 1; }
}

# start_workload LUN-FILE REGION-MIB THREADS: the verify workload
# (verify_workload.py) in the background; its acknowledged image goes to
# $TEST_TMP/expected. workload_passes N tells whether it did N passes;
# finish_workload stops it and fails the test unless it saw no error.
start_workload() {
	WORKLOAD_STOP=$TEST_TMP/workload.stop
	WORKLOAD_PROGRESS=$TEST_TMP/workload.progress
	echo 0 >"$WORKLOAD_PROGRESS"
	timeout -k 10 240 python3 "$TESTLIB/verify_workload.py" "$1" "$TEST_TMP/expected" \
		"$WORKLOAD_STOP" "$WORKLOAD_PROGRESS" "$2" "$3" >"$TEST_TMP/workload.out" 2>&1 &
	WORKLOAD_PID=$!
	defer "touch $WORKLOAD_STOP"
	show_on_failure "$TEST_TMP/workload.out"
	wait_for 60 workload_passes 1 || fail "the workload made no progress"
}

workload_passes() { [ "$(cat "$WORKLOAD_PROGRESS")" -ge "$1" ]; }

# wait_more_passes N: wait until the workload did N more passes than now.
wait_more_passes() {
	local before
	before=$(cat "$WORKLOAD_PROGRESS")
	wait_for 90 workload_passes $((before + $1)) || fail "the workload made no progress after the outage"
}

finish_workload() {
	local st=0
	touch "$WORKLOAD_STOP"
	wait "$WORKLOAD_PID" || st=$?
	cat "$TEST_TMP/workload.out"
	[ "$st" -eq 0 ] || fail "the workload saw errors or mismatches (status $st)"
}
