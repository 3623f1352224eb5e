# shellcheck shell=bash
# A throwaway open-isns isnsd on 127.0.0.1 (or ISNSD_ADDR, ::1 say) for one test, with its own configuration and
# database under the test's directory, stopped by its PID at exit; and a tgtd that registers
# its targets with it. Needs common.sh, target.sh and setup_tmpdir first.
#
# tgtd registers every portal as port 3260, whatever it listens on (ISCSI_LISTEN_PORT in its
# usr/iscsi/isns.c), so an iSNS test's tgtd listens on 127.0.0.1:3260; the tests that need it
# take a lock so that they run one at a time.

ISNSD_PID=
ISNSD_ADDR=${ISNSD_ADDR:-127.0.0.1}
ISNSD_PORT=
ISNSD_LOG=
ISNSD_DIR=
ISNS_TGT_LOCK=/run/lock/iscsifs-test-tgtd-3260.lock

_isnsd_ready_or_dead() {
	pid_gone "$ISNSD_PID" || port_listening "$ISNSD_PORT"
}

# isnsd_start: isnsd in the foreground (background job) on a free port, or on
# ISNSD_FIXED_PORT when set; sets ISNSD_PORT.
isnsd_start() {
	local attempt
	require_cmd isnsd ss python3
	ISNSD_DIR=$TEST_TMP/isnsd
	mkdir -p "$ISNSD_DIR/db"
	for attempt in 1 2 3; do
		ISNSD_PORT=${ISNSD_FIXED_PORT:-$(free_port)} || hard_error "no free TCP port"
		# Security 0: no DSA keys; the default discovery domain lets every node see the others.
		cat >"$ISNSD_DIR/isnsd.conf" <<-CONF
			SourceName = iqn.2026-11.org.iscsifs.test:isnsd
			BindAddress = $(portal_of "$ISNSD_ADDR" "$ISNSD_PORT")
			Database = $ISNSD_DIR/db
			PIDFile = $ISNSD_DIR/isnsd.pid
			ControlSocket = $ISNSD_DIR/control
			DefaultDiscoveryDomain = 1
			SLPRegister = 0
			Security = 0
		CONF
		cat >"$ISNSD_DIR/isnsadm.conf" <<-CONF
			SourceName = iqn.2026-11.org.iscsifs.test:isnsadm
			ServerAddress = $(portal_of "$ISNSD_ADDR" "$ISNSD_PORT")
			Security = 0
		CONF
		ISNSD_LOG=$TEST_TMP/isnsd.$attempt.log
		isnsd -f -c "$ISNSD_DIR/isnsd.conf" -d all </dev/null >"$ISNSD_LOG" 2>&1 &
		ISNSD_PID=$!
		show_on_failure "$ISNSD_LOG"
		defer isnsd_stop "$ISNSD_PID"
		if wait_for 10 _isnsd_ready_or_dead && ! pid_gone "$ISNSD_PID"; then
			msg "isnsd (pid $ISNSD_PID) on $(portal_of "$ISNSD_ADDR" "$ISNSD_PORT")"
			return 0
		fi
		echo "isnsd_start: attempt $attempt (port $ISNSD_PORT) failed:" >&2
		cat "$ISNSD_LOG" >&2
		isnsd_stop "$ISNSD_PID"
	done
	fail "isnsd did not start"
}

# isnsd_stop PID: SIGTERM, then SIGKILL after 5 s; only the isnsd this test started.
isnsd_stop() {
	local pid=$1
	[ -n "$pid" ] || return 0
	if ! pid_gone "$pid"; then
		kill "$pid" 2>/dev/null || true
		if ! wait_for 5 pid_gone "$pid"; then
			echo "isnsd_stop: isnsd $pid still running; kill -9" >&2
			kill -9 "$pid" 2>/dev/null || true
			wait_for 5 pid_gone "$pid" || echo "isnsd_stop: isnsd $pid survived kill -9" >&2
		fi
	fi
	wait "$pid" 2>/dev/null || true
}

# isns_nodes: the iSCSI names isnsd holds, one a line (isnsadm from open-isns-utils).
isns_nodes() {
	timeout -k 5 20 isnsadm -c "$ISNSD_DIR/isnsadm.conf" --list nodes 2>/dev/null |
		sed -n 's/.*iSCSI name = "\(.*\)"$/\1/p'
}

isns_has_node() { isns_nodes | grep -qxF "$1"; }

# isns_tgt_start: tgtd on 127.0.0.1:3260 (TGT_ADDR: another address) with its iSNS client
# pointed at our isnsd. Its targets register as they are created, so call this before
# tgt_add_target.
isns_tgt_start() {
	require_cmd flock
	exec 8>"$ISNS_TGT_LOCK"
	flock -w 600 8 || skip "another test holds $ISNS_TGT_LOCK for 10 minutes"
	if port_listening 3260; then
		skip "port 3260 is taken on this machine (tgtd's iSNS registration names port 3260)"
	fi
	TGT_FIXED_PORT=3260 tgt_start
	tgt_adm --op update --mode sys --name iSNSServerIP -v "$ISNSD_ADDR" ||
		fail "tgtadm: iSNSServerIP failed"
	tgt_adm --op update --mode sys --name iSNSServerPort -v "$ISNSD_PORT" ||
		fail "tgtadm: iSNSServerPort failed"
	tgt_adm --op update --mode sys --name iSNS -v On || fail "tgtadm: iSNS On failed"
}
