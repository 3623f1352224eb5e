# shellcheck shell=bash
# The scripted target (fake_target.py) for interop tests: started on 127.0.0.1,
# stopped by the PID it was started with. Needs common.sh.

FAKE=${TESTLIB:?}/fake_target.py
_FAKE_PIDS=()
_FAKE_STOP_DEFERRED=0

_fake_stop_all() {
	local pid
	for pid in ${_FAKE_PIDS[@]+"${_FAKE_PIDS[@]}"}; do
		kill "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
}

# fake_start NAME PORT ARG...: one scripted target on 127.0.0.1:PORT with the
# given fake_target.py arguments; its log is $TEST_TMP/fake.NAME.log, shown if
# the test fails. Sets FAKE_PID and FAKE_LOG.
fake_start() {
	local name=$1 port=$2
	shift 2
	FAKE_LOG=$TEST_TMP/fake.$name.log
	python3 "$FAKE" --port "$port" --lifetime 120 "$@" </dev/null >/dev/null 2>"$FAKE_LOG" &
	FAKE_PID=$!
	_FAKE_PIDS+=("$FAKE_PID")
	show_on_failure "$FAKE_LOG"
	if [ "$_FAKE_STOP_DEFERRED" = 0 ]; then
		defer _fake_stop_all
		_FAKE_STOP_DEFERRED=1
	fi
	if ! wait_for 10 port_listening "$port" || pid_gone "$FAKE_PID"; then
		fail "the $name target did not start: $(cat "$FAKE_LOG")"
	fi
}

# fake_relogin_gap LOG: the seconds, on the fake target's own clock, from its
# AsyncEvent 2 drop (cases drop-notice, mcs-drop-notice) to the first login after
# it, or "none".
fake_relogin_gap() {
	python3 - "$1" <<'EOF'
import re, sys
text = open(sys.argv[1]).read()
m = re.search(r"AsyncEvent 2: .* at ([0-9.]+)", text)
drop = float(m.group(1)) if m else None
later = [float(t) for t in re.findall(r"login at ([0-9.]+)", text) if drop and float(t) > drop]
print("%.1f" % (later[0] - drop) if later else "none")
EOF
}

# at_least SECONDS MIN: SECONDS (from fake_relogin_gap) is a number of at least MIN.
at_least() {
	[ "$1" != none ] && awk -v a="$1" -v b="$2" 'BEGIN { exit !(a >= b) }'
}
