#!/usr/bin/env bash
# A hostile target: tests/lib/fake_target.py serves one LUN well, then breaks the protocol
# once, one case at a time (unknown task tag, Data-In past the buffer, an oversize data
# segment, StatSN out of window, wrong digests, Reject, an R2T past the write, an opcode
# targets never send, malformed login keys). For each case the daemon must log the reason
# and drop that connection, stay up with its mount working, and keep the I/O of a second
# channel, to tgtd, going throughout with every byte verified.
# HOSTILE_CASES="case ..." runs a subset.
set -eu
# shellcheck source-path=SCRIPTDIR source=../lib/common.sh
. "${TESTLIB:?TESTLIB must point to tests/lib}/common.sh"
# shellcheck source-path=SCRIPTDIR source=../lib/target.sh
. "$TESTLIB/target.sh"

require_cmd python3
require_root
require_iscsifs
require_cmd cmp dd grep ss timeout

FAKE=$TESTLIB/fake_target.py
TGT_IQN=iqn.2026-11.org.iscsifs.test:hostile-tgtd
FAKE_IQN=iqn.2026-11.org.iscsifs.test:hostile-fake
ALL_CASES="unknown-itt data-beyond-buffer oversize-segment statsn-out-of-window
bad-header-digest bad-data-digest reject r2t-beyond-write bad-opcode malformed-login-keys
malformed-login-keys-relogin"
read -r -d '' -a CASES <<<"${HOSTILE_CASES:-$ALL_CASES}" || true
RELOGIN_WAIT=10   # seconds to wait for the daemon to log in again after a drop

# The words the daemon logs for each case (src/conn.c, src/session.c, src/pdu.c,
# src/login.c), as an extended regular expression.
reason_for() {
	case $1 in
	unknown-itt) echo "SCSI Data-In for an unknown task tag 0x[0-9a-f]{8}" ;;
	data-beyond-buffer) echo "SCSI Data-In at offset [0-9]+ of [0-9]+ bytes beyond the [0-9]+-byte buffer" ;;
	oversize-segment) echo "SCSI Data-In with a [0-9]+-byte data segment, more than MaxRecvDataSegmentLength" ;;
	statsn-out-of-window) echo "connection to .* lost: .*StatSN" ;;
	bad-header-digest) echo "header digest error \(received 0x" ;;
	bad-data-digest) echo "data digest error \(received 0x" ;;
	reject) echo "the target rejected a PDU: protocol error" ;;
	r2t-beyond-write) echo "R2T asks for [0-9]+ bytes at offset [0-9]+ of a [0-9]+-byte write" ;;
	bad-opcode) echo "received opcode 0x01 \(SCSI Command\), which a target never sends" ;;
	malformed-login-keys | malformed-login-keys-relogin) echo "malformed login text from the target" ;;
	*) hard_error "unknown case '$1'" ;;
	esac
}

setup_tmpdir
tgt_start
tgt_add_target 1 "$TGT_IQN"
tgt_add_lun 1 1 16
tgt_bind 1
BACKING=$(tgt_lun_file 1 1)

# The I/O of the tgtd channel: seeded writes, each followed by a read of another region,
# checked against a shadow copy of the LUN. It runs until the stop file appears (or its
# own bound of operations and seconds: status 2), then checks the whole LUN and its
# backing file (status 1 on any difference or I/O error).
IOLOOP=$TEST_TMP/ioloop.py
cat >"$IOLOOP" <<'EOF'
import os, random, sys, time
lun, backing, stop, progress, seed = sys.argv[1:6]
MAX_OPS, MAX_SECONDS = 100000, 60
rng = random.Random(int(seed))
with open(backing, "rb") as f:
    shadow = bytearray(f.read())
size = len(shadow)
ops = errors = 0
def bad(what):
    global errors
    errors += 1
    print("ioloop: " + what, flush=True)
def show(n):
    with open(progress + ".tmp", "w") as f:
        f.write("%d\n" % n)
    os.replace(progress + ".tmp", progress)
fd = os.open(lun, os.O_RDWR)
deadline = time.monotonic() + MAX_SECONDS
while not os.path.exists(stop) and ops < MAX_OPS and errors < 20:
    if time.monotonic() > deadline:
        break
    n = rng.randint(1, 65536)
    off = rng.randrange(0, size - n)
    data = rng.randbytes(n)
    try:
        if os.pwrite(fd, data, off) != n:
            bad("short write of %d bytes at %d" % (n, off))
        shadow[off:off + n] = data
        n = rng.randint(1, 131072)
        off = rng.randrange(0, size - n)
        if os.pread(fd, n, off) != shadow[off:off + n]:
            bad("%d bytes at %d differ from what was written" % (n, off))
    except OSError as e:
        bad("I/O error: %s" % e)
    ops += 1
    show(ops)
try:
    os.fsync(fd)
    if os.pread(fd, size, 0) != shadow:
        bad("the LUN differs from the shadow copy at the end")
except OSError as e:
    bad("final check: %s" % e)
os.close(fd)
with open(backing, "rb") as f:
    if f.read() != shadow:
        bad("the backing file differs from the shadow copy at the end")
stopped = os.path.exists(stop)
print("ops=%d errors=%d%s" % (ops, errors, "" if stopped else ", stopped by its own bound"),
      flush=True)
sys.exit(1 if errors else 0 if stopped else 2)
EOF

FAILED=()
CASE=
case_bad() {
	printf '%s: FAIL [%s]: %s\n' "$TEST_NAME" "$CASE" "$*" >&2
	FAILED+=("$CASE: $*")
}

# stop_pid PID: ends a process this test started (TERM, then KILL) and reaps it.
stop_pid() {
	local pid=$1
	[ -n "$pid" ] || return 0
	if ! pid_gone "$pid"; then
		kill -TERM "$pid" 2>/dev/null || true
		if ! wait_for 5 pid_gone "$pid"; then
			kill -9 "$pid" 2>/dev/null || true
			wait_for 5 pid_gone "$pid" || echo "process $pid survived kill -9" >&2
		fi
	fi
	wait "$pid" 2>/dev/null || true
}

FAKE_PID=
FAKE_PORT=
FAKE_LOG=
LOOP_PID=
TRIGGER_PID=
# Evaluated at exit: whichever helper is still running then.
# shellcheck disable=SC2016
defer 'stop_pid "$LOOP_PID"'
# shellcheck disable=SC2016
defer 'stop_pid "$FAKE_PID"'
# shellcheck disable=SC2016
defer 'stop_pid "$TRIGGER_PID"'
_fake_ready() { pid_gone "$FAKE_PID" || port_listening "$FAKE_PORT"; }

# start_fake ARG...: the fake target on a free port; its stderr goes to FAKE_LOG.
start_fake() {
	FAKE_PORT=$(free_port) || hard_error "no free TCP port"
	FAKE_LOG=$TEST_TMP/fake.$CASE.log
	python3 "$FAKE" --port "$FAKE_PORT" --iqn "$FAKE_IQN" --lifetime 120 "$@" \
		</dev/null >/dev/null 2>"$FAKE_LOG" &
	FAKE_PID=$!
	show_on_failure "$FAKE_LOG"
	if ! wait_for 10 _fake_ready || pid_gone "$FAKE_PID"; then
		fail "the fake target did not start on port $FAKE_PORT: $(cat "$FAKE_LOG")"
	fi
}

# What the fake target logs when the initiator drops its first connection.
CLOSED_BY_DAEMON="conn 1: connection closed \((closed by the initiator|receive failed|send failed)"
fake_said() { grep -Eq -- "$1" "$FAKE_LOG"; }
daemon_said() { grep -Eq -- "$1" "$ISCSIFS_LOG"; }
loop_ops() { cat "$TEST_TMP/progress.$CASE" 2>/dev/null || echo 0; }
loop_at_least() { [ "$(loop_ops)" -ge "$1" ]; }

# fake_io: good I/O on the fake LUN before the misbehaviour: a write answered with an R2T,
# then the two good READs of --after 2, each one 64 KiB request (dd, not cmp, which
# reads 4 KiB at a time), checked against what was written and what the fake serves.
fake_io() {
	local lun=$ISCSIFS_MNT/$FAKE_IQN/lun0
	[ -e "$lun" ] || { case_bad "no file for the fake target's LUN ($lun)"; return 1; }
	dd if=/dev/urandom of="$TEST_TMP/w64k" bs=65536 count=1 status=none
	timeout -k 5 20 dd if="$TEST_TMP/w64k" of="$lun" bs=65536 seek=32 count=1 conv=notrunc \
		status=none || { case_bad "a good write to the fake LUN failed"; return 1; }
	if ! timeout -k 5 20 dd if="$lun" of="$TEST_TMP/r64k" bs=65536 skip=32 count=1 status=none ||
		! cmp "$TEST_TMP/w64k" "$TEST_TMP/r64k"; then
		case_bad "the fake LUN does not read back what was written"
		return 1
	fi
	python3 "$FAKE" --expect 0 65536 >"$TEST_TMP/expect"
	if ! timeout -k 5 20 dd if="$lun" of="$TEST_TMP/r64k" bs=65536 count=1 status=none ||
		! cmp "$TEST_TMP/expect" "$TEST_TMP/r64k"; then
		case_bad "the fake LUN does not read as the fake target's content"
		return 1
	fi
}

# trigger: the I/O at which the fake target misbehaves, in the background: its result
# does not matter (EIO without session recovery, success on a new connection with it),
# and the tgtd I/O is watched while it waits for that.
trigger() {
	local lun=$ISCSIFS_MNT/$FAKE_IQN/lun0
	if [ "$CASE" = r2t-beyond-write ]; then
		timeout -k 5 40 dd if="$TEST_TMP/w64k" of="$lun" bs=65536 seek=48 count=1 \
			conv=notrunc status=none 2>/dev/null &
	else
		timeout -k 5 40 dd if="$lun" of=/dev/null bs=4096 skip=2 count=1 status=none \
			2>/dev/null &
	fi
	TRIGGER_PID=$!
}

trigger_done() {
	local st=0
	[ -n "$TRIGGER_PID" ] || return 0
	wait_for 50 pid_gone "$TRIGGER_PID" || case_bad "the triggering I/O did not end"
	wait "$TRIGGER_PID" || st=$?
	TRIGGER_PID=
	msg "[$CASE] the triggering I/O ended with status $st"
}

# check_alive: the daemon runs, its mount works, the tgtd LUN is there and reads.
check_alive() {
	pid_gone "$ISCSIFS_PID" && { case_bad "the daemon died"; return 1; }
	is_mounted "$ISCSIFS_MNT" || { case_bad "the mount is gone"; return 1; }
	timeout -k 5 20 ls "$ISCSIFS_MNT/$TGT_IQN" >/dev/null ||
		{ case_bad "cannot list the mount"; return 1; }
	timeout -k 5 20 cmp -n 1048576 "$ISCSIFS_MNT/$TGT_IQN/lun1" "$BACKING" ||
		{ case_bad "the tgtd LUN does not read as its backing file after the case"; return 1; }
}

check_sanitizers() {
	if grep -Eq "AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|runtime error:" \
		"$ISCSIFS_LOG"; then
		case_bad "sanitizer report in the daemon's log"
	fi
}

run_case() {
	local fake_args=() reason drop_at st=0 loop_log relogin=0
	CASE=$1
	reason=$(reason_for "$CASE")
	msg "=== case $CASE"
	case $CASE in
	malformed-login-keys-relogin)
		fake_args=(--case malformed-login-keys --login-conn 2)
		relogin=1
		;;
	bad-header-digest | bad-data-digest) fake_args=(--case "$CASE" --digests) ;;
	*) fake_args=(--case "$CASE") ;;
	esac
	start_fake "${fake_args[@]}"

	CHANNEL_KEYS=AuthMethod=None
	CHANNEL_ATTRS="nopout_timeout=5;command_timeout=10"
	local ch0 ch1
	ch0=$(channel_line 0 "$TGT_PORT" "$TGT_IQN")
	case $CASE in
	bad-header-digest | bad-data-digest)
		CHANNEL_KEYS="AuthMethod=None;HeaderDigest=CRC32C;DataDigest=CRC32C" ;;
	esac
	ch1=$(channel_line 1 "$FAKE_PORT" "$FAKE_IQN")
	iscsifs_config "$ch0" "$ch1"

	if [ "$CASE" = malformed-login-keys ]; then
		# At login time: the channel cannot start.
		iscsifs_spawn "$TEST_TMP/mnt.$CASE"
		wait_for "$ISCSIFS_START_TIMEOUT" _iscsifs_up "$ISCSIFS_MNT" "$ISCSIFS_PID" ||
			fail "[$CASE] neither a mount nor an exit after ${ISCSIFS_START_TIMEOUT}s"
		wait_for 10 daemon_said "$reason" ||
			case_bad "no log line with the reason ('$reason')"
		wait_for 10 fake_said "$CLOSED_BY_DAEMON" ||
			case_bad "the fake target's connection was not closed by the daemon"
		if pid_gone "$ISCSIFS_PID"; then
			wait_iscsifs_exit 0 || st=$?
			check_sanitizers
			[ "$st" -eq 1 ] || case_bad "the daemon exited with status $st (1 expected)"
			msg "[$CASE] the daemon refused to start (exit status $st): $(grep -E -m1 -- "$reason" "$ISCSIFS_LOG" || true)"
			stop_pid "$FAKE_PID"
			FAKE_PID=
			return 0
		fi
		msg "[$CASE] the daemon started without the channel's first login"
	else
		start_iscsifs "$TEST_TMP/mnt.$CASE"
	fi
	if [ "$CASE" = bad-header-digest ] || [ "$CASE" = bad-data-digest ]; then
		fake_said "HeaderDigest CRC32C, DataDigest CRC32C" ||
			case_bad "digests were not negotiated with the fake target"
	fi

	loop_log=$TEST_TMP/ioloop.$CASE.log
	show_on_failure "$loop_log"
	python3 "$IOLOOP" "$ISCSIFS_MNT/$TGT_IQN/lun1" "$BACKING" "$TEST_TMP/stop.$CASE" \
		"$TEST_TMP/progress.$CASE" "$RANDOM" </dev/null >"$loop_log" 2>&1 &
	LOOP_PID=$!
	wait_for 20 loop_at_least 5 || case_bad "the tgtd I/O loop did not get going"

	if [ "$CASE" != malformed-login-keys ]; then
		fake_io || true
		trigger
	fi

	# (1) the reason is logged and (2) the connection to the fake target is dropped.
	if [ "$relogin" = 1 ]; then
		wait_for 15 fake_said "conn 1: connection closed" ||
			case_bad "the fake target did not drop its first connection"
		if wait_for "$RELOGIN_WAIT" fake_said "conn 2: accepted"; then
			wait_for 15 fake_said "conn 2: connection closed" ||
				case_bad "the connection with the malformed login was not closed"
			wait_for 10 daemon_said "$reason" ||
				case_bad "no log line with the reason ('$reason')"
		else
			msg "[$CASE] no new login within ${RELOGIN_WAIT}s of the drop (no session recovery): the re-login was not exercised"
			wait_for 10 daemon_said "the target closed the connection" ||
				case_bad "the daemon did not log the closed connection"
		fi
	else
		wait_for 10 fake_said "$CLOSED_BY_DAEMON" ||
			case_bad "the connection to the fake target was not dropped"
		wait_for 3 daemon_said "$reason" ||
			case_bad "no log line with the reason ('$reason')"
	fi
	if daemon_said "$reason"; then
		msg "[$CASE] logged: $(grep -E -m1 -- "$reason" "$ISCSIFS_LOG")"
	fi

	# (4) the tgtd I/O goes on after the drop, then ends by itself with no error.
	drop_at=$(loop_ops)
	wait_for 20 loop_at_least $((drop_at + 10)) ||
		case_bad "the tgtd I/O stalled after the drop (at $(loop_ops) operations, $drop_at at the drop)"
	trigger_done
	: >"$TEST_TMP/stop.$CASE"
	wait_for 90 pid_gone "$LOOP_PID" || case_bad "the tgtd I/O loop did not finish"
	st=0
	wait "$LOOP_PID" || st=$?
	LOOP_PID=
	case $st in
	0) ;;
	2) case_bad "the tgtd I/O loop reached its own bound before the case ended" ;;
	*) case_bad "the tgtd I/O loop failed: $(tail -n 3 "$loop_log" | tr '\n' ' ')" ;;
	esac
	msg "[$CASE] tgtd I/O: $(tail -n 1 "$loop_log"), $drop_at operations when the drop was seen"

	# (3) the daemon is alive and its mount works; then it stops cleanly.
	check_alive || true
	st=0
	stop_iscsifs "$ISCSIFS_PID" "$ISCSIFS_MNT" || st=$?
	[ "$st" -eq 0 ] || case_bad "the daemon exited with status $st after umount"
	check_sanitizers
	stop_pid "$FAKE_PID"
	FAKE_PID=
}

for c in "${CASES[@]}"; do
	run_case "$c"
done

if [ "${#FAILED[@]}" -gt 0 ]; then
	printf '%s: %d case(s) failed:\n' "$TEST_NAME" "${#FAILED[@]}" >&2
	printf '  %s\n' "${FAILED[@]}" >&2
	exit 1
fi
msg "all ${#CASES[@]} cases: reason logged, connection dropped, daemon and tgtd I/O unharmed"
