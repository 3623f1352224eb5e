# shellcheck shell=bash
# A throwaway istgt on 127.0.0.1 for one test, the counterpart of target.sh:
# its own config, auth and pid files in TEST_TMP, a free port, LUNs backed by
# files of random data in /dev/shm, and a stop that leaves no process or file
# behind. Needs common.sh and setup_tmpdir first.
#
# istgt differs from tgtd in ways the tests see: LUN 0 is a disk (no
# controller LUN), a target is named "<NodeBase>:<TargetName>", it refuses
# ErrorRecoveryLevel > 0, and its CHAP is MD5 only. Its unit-control portal is
# left out of the config, so it listens on the iSCSI portal alone.
#
# Optional CHAP for every target, read by istgt_start:
#   ISTGT_CHAP_USER, ISTGT_CHAP_SECRET                what the initiator answers
#   ISTGT_CHAP_MUTUAL_USER, ISTGT_CHAP_MUTUAL_SECRET  what istgt answers (mutual)
# ISTGT_TRACE (all, net, iscsi, scsi, lu) adds istgt's trace to its log.
#
# A test that runs istgt inside a network namespace it made sets, before
# istgt_start, ISTGT_NETNS and ISTGT_ADDRS (the namespace's addresses istgt
# listens on, one portal each, all in one portal group; initiators from 10.0.0.0/8
# are let in as well as 127.0.0.1). ISTGT_ADDRS may name ::1 ("127.0.0.1 ::1":
# one portal group on both); initiators from ::1 are let in then.

ISTGT_NODEBASE=iqn.2026-11.org.iscsifs.test
ISTGT_PID=
ISTGT_PORT=
ISTGT_IQN=
ISTGT_LUN_FILE=
ISTGT_LOG=
ISTGT_CONF=
ISTGT_STOP_TIMEOUT=${ISTGT_STOP_TIMEOUT:-20}
ISTGT_NETNS=${ISTGT_NETNS:-}
ISTGT_ADDRS=${ISTGT_ADDRS:-127.0.0.1}
ISTGT_FILES=()
ISTGT_TARGETS=()              # target names, in the order they were added
declare -A ISTGT_LUNS=()      # target name -> "LUN:file LUN:file ..."
declare -A ISTGT_LUN_FILES=() # "name:LUN" -> backing file
_ISTGT_STOP_DEFERRED=0

_istgt_defer_stop() {
	[ "$_ISTGT_STOP_DEFERRED" = 0 ] || return 0
	defer istgt_stop
	_ISTGT_STOP_DEFERRED=1
}

# istgt_iqn NAME: the full IQN istgt gives the target NAME.
istgt_iqn() {
	printf '%s:%s\n' "$ISTGT_NODEBASE" "$1"
}

# istgt_add_lun NAME LUN SIZE_MIB: before istgt_start, a disk LUN of target
# NAME (created with its first LUN) backed by a /dev/shm file of SIZE_MIB MiB
# of random data. Sets ISTGT_IQN and ISTGT_LUN_FILE; istgt_lun_file NAME LUN
# finds the file later.
istgt_add_lun() {
	local name=$1 lun=$2 size=$3 file
	[ -z "$ISTGT_PID" ] || hard_error "istgt_add_lun: istgt is already running; add LUNs before istgt_start"
	[[ $name =~ ^[a-z0-9][a-z0-9.-]*$ ]] || hard_error "istgt_add_lun: bad target name '$name'"
	if ! [[ $lun =~ ^[0-9]{1,2}$ ]] || [ "$lun" -ge 64 ]; then
		hard_error "istgt_add_lun: bad LUN '$lun' (istgt takes 0 to 63)"
	fi
	[[ $size =~ ^[1-9][0-9]*$ ]] || hard_error "istgt_add_lun: bad size '$size'"
	[ -z "${ISTGT_LUN_FILES[$name:$lun]:-}" ] || hard_error "istgt_add_lun: $name LUN $lun added twice"
	_istgt_defer_stop
	file=/dev/shm/iscsifs-test-$$-istgt-$name-lun$lun.img
	[ ! -e "$file" ] || hard_error "istgt_add_lun: $file already exists"
	ISTGT_FILES+=("$file")
	timeout -k 10 300 dd if=/dev/urandom of="$file" bs=1M count="$size" iflag=fullblock status=none ||
		fail "cannot fill $file"
	if [ -z "${ISTGT_LUNS[$name]+set}" ]; then
		ISTGT_TARGETS+=("$name")
		ISTGT_LUNS[$name]=
	fi
	ISTGT_LUNS[$name]+="$lun:$file "
	ISTGT_LUN_FILES["$name:$lun"]=$file
	ISTGT_IQN=$(istgt_iqn "$name")
	ISTGT_LUN_FILE=$file
	export ISTGT_IQN ISTGT_LUN_FILE
}

istgt_lun_file() {
	printf '%s\n' "${ISTGT_LUN_FILES[$1:$2]}"
}

# Writes istgt.conf and istgt-auth.conf into TEST_TMP for a portal on PORT.
_istgt_write_conf() {
	local port=$1 auth=None name i entry lun addr
	ISTGT_CONF=$TEST_TMP/istgt.conf
	if [ -n "${ISTGT_CHAP_USER:-}" ]; then
		auth=CHAP
		[ -z "${ISTGT_CHAP_MUTUAL_USER:-}" ] || auth="CHAP Mutual"
	fi
	(
		umask 077
		printf '[AuthGroup1]\n'
		if [ -n "${ISTGT_CHAP_USER:-}" ]; then
			printf '  Auth "%s" "%s"' "$ISTGT_CHAP_USER" "${ISTGT_CHAP_SECRET:?ISTGT_CHAP_SECRET unset}"
			[ -z "${ISTGT_CHAP_MUTUAL_USER:-}" ] ||
				printf ' "%s" "%s"' "$ISTGT_CHAP_MUTUAL_USER" \
					"${ISTGT_CHAP_MUTUAL_SECRET:?ISTGT_CHAP_MUTUAL_SECRET unset}"
			printf '\n'
		else
			# istgt wants a group to exist; nobody can log in with this one.
			printf '  Auth "nobody" "%s"\n' "$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
		fi
	) >"$TEST_TMP/istgt-auth.conf"
	{
		cat <<EOF
[Global]
  NodeBase "$ISTGT_NODEBASE"
  PidFile "$TEST_TMP/istgt.pid"
  AuthFile "$TEST_TMP/istgt-auth.conf"
  MediaDirectory "$TEST_TMP"
  Timeout 30
  NopInInterval 20
  DiscoveryAuthMethod $auth
  DiscoveryAuthGroup AuthGroup1
  MaxSessions 16
  MaxConnections 4
  MaxR2T 32
  MaxOutstandingR2T 16
  DefaultTime2Wait 2
  DefaultTime2Retain 60
  FirstBurstLength 262144
  MaxBurstLength 1048576
  MaxRecvDataSegmentLength 262144
  InitialR2T Yes
  ImmediateData Yes
  DataPDUInOrder Yes
  DataSequenceInOrder Yes
  ErrorRecoveryLevel 0

[UnitControl]
  AuthMethod CHAP Mutual
  AuthGroup AuthGroup1
  Netmask 127.0.0.1

[PortalGroup1]
EOF
		i=0
		for addr in $ISTGT_ADDRS; do
			i=$((i + 1))
			printf '  Portal DA%d %s\n' "$i" "$(portal_of "$addr" "$port")"
		done
		cat <<EOF

[InitiatorGroup1]
  InitiatorName "ALL"
  Netmask 127.0.0.1
EOF
		case " $ISTGT_ADDRS " in
		*:*) printf '  Netmask [::1]\n' ;;
		esac
		[ -z "$ISTGT_NETNS" ] || printf '  Netmask 10.0.0.0/8\n'
		i=0
		for name in "${ISTGT_TARGETS[@]}"; do
			i=$((i + 1))
			cat <<EOF

[LogicalUnit$i]
  TargetName $name
  Mapping PortalGroup1 InitiatorGroup1
  AuthMethod $auth
  AuthGroup AuthGroup1
  UseDigest Auto
  UnitType Disk
EOF
			for entry in ${ISTGT_LUNS[$name]}; do
				lun=${entry%%:*}
				printf '  LUN%s Storage "%s" Auto\n' "$lun" "${entry#*:}"
			done
		done
	} >"$ISTGT_CONF"
}

# Ready means istgt itself listens on the port: someone else may have taken it
# since free_port looked.
_istgt_listening() {
	if [ -n "$ISTGT_NETNS" ]; then
		in_netns "$ISTGT_NETNS" ss -Hltnp "sport = :$ISTGT_PORT" 2>/dev/null | grep -q "pid=$ISTGT_PID,"
	else
		ss -Hltnp "sport = :$ISTGT_PORT" 2>/dev/null | grep -q "pid=$ISTGT_PID,"
	fi
}

_istgt_ready_or_dead() {
	pid_gone "$ISTGT_PID" || _istgt_listening
}

# Kills an istgt that never became ready, so that another port can be tried.
_istgt_abort_start() {
	if ! pid_gone "$ISTGT_PID"; then
		kill -9 "$ISTGT_PID" 2>/dev/null || true
		wait_for 5 pid_gone "$ISTGT_PID" || true
	fi
	wait "$ISTGT_PID" 2>/dev/null || true
	ISTGT_PID=
}

# istgt_start: writes the config for the LUNs added so far and starts istgt in
# the foreground (as a background job) on a free port; waits for its portal.
istgt_start() {
	local attempt cmd name
	require_cmd istgt ss timeout python3 od
	[ -z "$ISTGT_PID" ] || hard_error "istgt_start: istgt already started (pid $ISTGT_PID)"
	[ "${#ISTGT_TARGETS[@]}" -gt 0 ] || hard_error "istgt_start: no LUNs added (istgt_add_lun first)"
	for name in "${ISTGT_TARGETS[@]}"; do
		[ -n "${ISTGT_LUN_FILES[$name:0]:-}" ] || hard_error "istgt_start: target $name has no LUN 0 (istgt requires one)"
	done
	_istgt_defer_stop
	for attempt in 1 2 3; do
		ISTGT_PORT=$(free_port) || hard_error "no free TCP port"
		_istgt_write_conf "$ISTGT_PORT"
		ISTGT_LOG=$TEST_TMP/istgt.$attempt.log
		cmd=(istgt -D -c "$ISTGT_CONF" -p "$TEST_TMP/istgt.pid")
		[ -z "${ISTGT_TRACE:-}" ] || cmd+=(-t "$ISTGT_TRACE")
		# nsenter with --net alone runs istgt in place (see in_netns), so $! stays istgt's own PID.
		[ -z "$ISTGT_NETNS" ] || cmd=(nsenter "--net=/run/netns/$ISTGT_NETNS" -- "${cmd[@]}")
		printf '%q ' "${cmd[@]}" >"$ISTGT_LOG"
		printf '\n' >>"$ISTGT_LOG"
		"${cmd[@]}" </dev/null >>"$ISTGT_LOG" 2>&1 &
		ISTGT_PID=$!
		show_on_failure "$ISTGT_LOG"
		if wait_for 15 _istgt_ready_or_dead && ! pid_gone "$ISTGT_PID"; then
			export ISTGT_PID ISTGT_PORT
			msg "istgt (pid $ISTGT_PID) portal(s) ${ISTGT_ADDRS// /, } port $ISTGT_PORT"
			return 0
		fi
		echo "istgt_start: attempt $attempt (port $ISTGT_PORT) failed:" >&2
		cat "$ISTGT_LOG" >&2
		_istgt_abort_start
	done
	fail "istgt did not start"
}

# istgt_stop [--keep-files]: SIGTERM to the recorded PID, a bounded wait, then
# kill -9 by PID as a last resort; removes the LUN backing files unless asked
# to keep them (to check them once istgt has flushed and gone). Returns 0 if
# istgt exited on SIGTERM, 1 if it had to be killed. Safe to call more than
# once; never exits the shell (it runs from the cleanup stack).
istgt_stop() {
	local keep=0 pid=$ISTGT_PID st=0 f
	[ "${1:-}" != --keep-files ] || keep=1
	if [ -n "$pid" ]; then
		if ! pid_gone "$pid"; then
			kill -TERM "$pid" 2>/dev/null || true
			if ! wait_for "$ISTGT_STOP_TIMEOUT" pid_gone "$pid"; then
				echo "istgt_stop: istgt $pid still running ${ISTGT_STOP_TIMEOUT}s after SIGTERM; kill -9" >&2
				kill -9 "$pid" 2>/dev/null || true
				wait_for 5 pid_gone "$pid" || echo "istgt_stop: istgt $pid survived kill -9" >&2
				st=1
			fi
		fi
		wait "$pid" 2>/dev/null || true
		ISTGT_PID=
	fi
	if [ "$keep" = 0 ]; then
		for f in "${ISTGT_FILES[@]}"; do
			rm -f "$f"
		done
		ISTGT_FILES=()
	fi
	return "$st"
}
