# shellcheck shell=bash
# A throwaway tgtd on 127.0.0.1 (or ::1) for one test: its own control socket number and
# port, LUNs backed by files of random data in /dev/shm, and a stop that leaves
# no process, socket or file behind. Needs common.sh and setup_tmpdir first.
#
# Other targets get their own harness with the same shape (an istgt one would
# be istgt_start / istgt_add_target / istgt_add_lun / istgt_stop exporting
# ISTGT_PORT and ISTGT_PID), so a test can swap one for the other.

TGT_PID=
TGT_PORT=
TGT_CTL=
TGT_LOG=
TGT_LUN_FILE=
TGT_RUN_DIR=/var/run/tgtd
TGT_TIDS=()
TGT_FILES=()
declare -A TGT_LUN_FILES=()   # "TID:LUN" -> backing file
TGT_REPLAY=()                 # tgtadm argument lists (printf %q) that rebuild the targets
# Where tgtd listens: 127.0.0.1 by default, ::1 with TGT_ADDR=::1 (tgt_add_portal
# adds more); a test that made its own network namespace sets TGT_NETNS and TGT_ADDR
# (an address inside it) before tgt_start.
TGT_NETNS=${TGT_NETNS:-}
TGT_ADDR=${TGT_ADDR:-127.0.0.1}

# The tgtd command line in _TGT_CMD. Started as "${_TGT_CMD[@]}" &, never through
# a shell function, so that $! is tgtd's own PID (nsenter with --net alone runs it in place; see in_netns).
_tgt_cmd() {
	_TGT_CMD=(tgtd -f -C "$TGT_CTL" --iscsi "portal=$(portal_of "$TGT_ADDR" "$TGT_PORT")")
	if [ -n "$TGT_NETNS" ]; then
		_TGT_CMD=(nsenter "--net=/run/netns/$TGT_NETNS" -- "${_TGT_CMD[@]}")
	fi
}

# Runs a command in tgtd's network namespace (or here, without one).
_tgt_in_ns() {
	if [ -n "$TGT_NETNS" ]; then
		in_netns "$TGT_NETNS" "$@"
	else
		"$@"
	fi
}
_TGT_STOP_DEFERRED=0

tgt_adm() {
	timeout -k 10 30 tgtadm -C "$TGT_CTL" --lld iscsi "$@"
}

# tgt_cfg ARGS...: a tgtadm call that is part of the target set-up, so that
# tgt_revive can do it again after a crash.
tgt_cfg() {
	tgt_adm "$@" || return 1
	TGT_REPLAY+=("$(printf '%q ' "$@")")
}

# A control socket number no tgtd on this machine uses (nor left a socket for).
_tgt_pick_ctl() {
	local i n
	for ((i = 0; i < 50; i++)); do
		n=$((1000 + RANDOM % 31000))   # tgtd accepts at most 32767
		if [ ! -e "$TGT_RUN_DIR/socket.$n" ] && [ ! -e "$TGT_RUN_DIR/socket.$n.lock" ]; then
			printf '%s\n' "$n"
			return 0
		fi
	done
	return 1
}

_tgt_ready_or_dead() {
	pid_gone "$TGT_PID" || { [ -S "$TGT_RUN_DIR/socket.$TGT_CTL" ] && _tgt_in_ns ss -Hltn "sport = :$TGT_PORT" 2>/dev/null | grep -q .; }
}

# Stops a tgtd that never became ready, so that another port can be tried.
_tgt_abort_start() {
	if ! pid_gone "$TGT_PID"; then
		kill -9 "$TGT_PID" 2>/dev/null || true
		wait_for 5 pid_gone "$TGT_PID" || true
	fi
	wait "$TGT_PID" 2>/dev/null || true
	rm -f "$TGT_RUN_DIR/socket.$TGT_CTL" "$TGT_RUN_DIR/socket.$TGT_CTL.lock"
	TGT_PID=
}

# tgt_start: starts tgtd in the foreground (background job) on a free port;
# waits for its control socket and its listening portal.
tgt_start() {
	local attempt
	require_cmd tgtd tgtadm ss timeout python3
	[ -z "$TGT_PID" ] || hard_error "tgt_start: tgtd already started (pid $TGT_PID)"
	if [ "$_TGT_STOP_DEFERRED" = 0 ]; then
		defer tgt_stop
		_TGT_STOP_DEFERRED=1
	fi
	for attempt in 1 2 3; do
		TGT_CTL=$(_tgt_pick_ctl) || hard_error "no free tgtd control socket number"
		# TGT_FIXED_PORT: a port the test needs (iSNS: tgtd registers 3260 whatever it uses).
		TGT_PORT=${TGT_FIXED_PORT:-$(free_port)} || hard_error "no free TCP port"
		TGT_LOG=$TEST_TMP/tgtd.$attempt.log
		_tgt_cmd
		"${_TGT_CMD[@]}" </dev/null >"$TGT_LOG" 2>&1 &
		TGT_PID=$!
		show_on_failure "$TGT_LOG"
		if wait_for 15 _tgt_ready_or_dead && ! pid_gone "$TGT_PID"; then
			export TGT_PID TGT_PORT TGT_CTL
			msg "tgtd (pid $TGT_PID) control $TGT_CTL portal $(portal_of "$TGT_ADDR" "$TGT_PORT")"
			return 0
		fi
		echo "tgt_start: attempt $attempt (control $TGT_CTL, port $TGT_PORT) failed:" >&2
		cat "$TGT_LOG" >&2
		_tgt_abort_start
	done
	fail "tgtd did not start"
}

_tgt_listens_on() { _tgt_in_ns ss -Hltn "src $1" 2>/dev/null | grep -q .; }

# tgt_add_portal ADDR: tgtd listens on ADDR (127.0.0.1, ::1) too, on the same port.
tgt_add_portal() {
	tgt_cfg --op new --mode portal --param "portal=$(portal_of "$1" "$TGT_PORT")" ||
		fail "tgtadm: new portal $1 failed"
	wait_for 10 _tgt_listens_on "$(portal_of "$1" "$TGT_PORT")" ||
		fail "tgtd does not listen on $(portal_of "$1" "$TGT_PORT")"
	msg "tgtd listens on $(portal_of "$1" "$TGT_PORT") too"
}

# tgt_add_target TID IQN
tgt_add_target() {
	tgt_cfg --op new --mode target --tid "$1" -T "$2" || fail "tgtadm: new target $1 $2 failed"
	TGT_TIDS+=("$1")
}

# tgt_add_lun TID LUN SIZE_MIB [NAME]: a disk LUN backed by a /dev/shm file of
# SIZE_MIB MiB of random data (never holes, so comparisons mean something).
# Sets TGT_LUN_FILE; tgt_lun_file TID LUN finds it later.
tgt_add_lun() {
	local tid=$1 lun=$2 size=$3 name=${4:-tid$1-lun$2} file
	file=/dev/shm/iscsifs-test-$$-$name.img
	[ ! -e "$file" ] || hard_error "tgt_add_lun: $file already exists"
	TGT_FILES+=("$file")
	timeout -k 10 300 dd if=/dev/urandom of="$file" bs=1M count="$size" iflag=fullblock status=none ||
		fail "cannot fill $file"
	tgt_cfg --op new --mode logicalunit --tid "$tid" --lun "$lun" -b "$file" ||
		fail "tgtadm: new LUN $tid:$lun ($file) failed"
	TGT_LUN_FILES["$tid:$lun"]=$file
	# shellcheck disable=SC2034 # for the tests
	TGT_LUN_FILE=$file
}

# tgt_add_lun_file TID LUN FILE [TYPE]: a LUN backed by FILE, an image the test
# made in /dev/shm (removed with the others at the end). TYPE is tgtd's device
# type: disk (the default), or cd for a read-only CD/DVD LUN of 2048-byte blocks.
tgt_add_lun_file() {
	local tid=$1 lun=$2 file=$3 type=${4:-disk}
	TGT_FILES+=("$file")
	tgt_cfg --op new --mode logicalunit --tid "$tid" --lun "$lun" -b "$file" --device-type "$type" ||
		fail "tgtadm: new $type LUN $tid:$lun ($file) failed"
	TGT_LUN_FILES["$tid:$lun"]=$file
}

tgt_lun_file() {
	printf '%s\n' "${TGT_LUN_FILES[$1:$2]}"
}

# tgt_bind TID: accept every initiator.
tgt_bind() {
	tgt_cfg --op bind --mode target --tid "$1" -I ALL || fail "tgtadm: bind target $1 failed"
}

# tgt_crash: kill -9 the tgtd this test started, as a crash would; its backing
# files stay.
tgt_crash() {
	[ -n "$TGT_PID" ] || hard_error "tgt_crash: no tgtd"
	kill -9 "$TGT_PID" 2>/dev/null || true
	wait_for 10 pid_gone "$TGT_PID" || fail "tgtd $TGT_PID survived kill -9"
	wait "$TGT_PID" 2>/dev/null || true
	rm -f "$TGT_RUN_DIR/socket.$TGT_CTL" "$TGT_RUN_DIR/socket.$TGT_CTL.lock"
	msg "tgtd $TGT_PID killed with SIGKILL"
	TGT_PID=
}

# tgt_revive: start tgtd again on the same port and control socket, with the
# same targets and LUNs over the same backing files.
tgt_revive() {
	local cmd
	[ -z "$TGT_PID" ] || hard_error "tgt_revive: tgtd still running"
	TGT_LOG=$TEST_TMP/tgtd.revived.$RANDOM.log
	_tgt_cmd
	"${_TGT_CMD[@]}" </dev/null >"$TGT_LOG" 2>&1 &
	TGT_PID=$!
	show_on_failure "$TGT_LOG"
	if ! wait_for 15 _tgt_ready_or_dead || pid_gone "$TGT_PID"; then
		fail "tgtd did not restart on port $TGT_PORT"
	fi
	for cmd in "${TGT_REPLAY[@]}"; do
		eval "tgt_adm $cmd" || fail "tgtadm replay failed: $cmd"
	done
	export TGT_PID
	msg "tgtd restarted (pid $TGT_PID) on port $TGT_PORT"
}

tgt_show() {
	tgt_adm --op show --mode target
}

# tgt_stop: tgtd ignores SIGTERM while it has targets, so delete them, then the
# system; kill -9 by PID only if it is still there after 5 s. Removes the
# control socket files and the LUN backing files. Safe to call more than once;
# never exits the shell (it runs from the cleanup stack).
tgt_stop() {
	local tid f pid=$TGT_PID
	if [ -n "$pid" ]; then
		if ! pid_gone "$pid"; then
			for tid in "${TGT_TIDS[@]}"; do
				tgt_adm --op delete --mode target --tid "$tid" --force >/dev/null 2>&1 ||
					echo "tgt_stop: deleting target $tid failed" >&2
			done
			tgt_adm --op delete --mode system >/dev/null 2>&1 ||
				echo "tgt_stop: deleting the system failed" >&2
			if ! wait_for 5 pid_gone "$pid"; then
				echo "tgt_stop: tgtd $pid still running; kill -9" >&2
				kill -9 "$pid" 2>/dev/null || true
				wait_for 5 pid_gone "$pid" || echo "tgt_stop: tgtd $pid survived kill -9" >&2
			fi
		fi
		wait "$pid" 2>/dev/null || true
		rm -f "$TGT_RUN_DIR/socket.$TGT_CTL" "$TGT_RUN_DIR/socket.$TGT_CTL.lock"
		TGT_PID=
		TGT_TIDS=()
	fi
	for f in "${TGT_FILES[@]}"; do
		rm -f "$f"
	done
	TGT_FILES=()
	TGT_LUN_FILES=()
	return 0
}
