#!/usr/bin/env bash
# 'initiator pause 0' in the middle of a 64 MiB direct write to the LUN file
# (howto section 3 D): the session is logged out and the write waits, neither
# finishing nor failing, while initiator-ctl reports the channel paused.
# 'initiator start 0' resumes it: dd ends with status 0 and the LUN and the
# target's backing file hold exactly the source data.
set -eu
# shellcheck source-path=SCRIPTDIR source=../lib/common.sh
. "${TESTLIB:?TESTLIB must point to tests/lib}/common.sh"
# shellcheck source-path=SCRIPTDIR source=../lib/target.sh
. "$TESTLIB/target.sh"

: "${SCRIPTS:=$TESTLIB/../../scripts}"

require_root
require_iscsifs
require_cmd cmp dd mkfifo python3 timeout
require_isctl
[ -x "$SCRIPTS/initiator" ] || hard_error "no init script in '$SCRIPTS'"

IQN=iqn.2026-11.org.iscsifs.test:pause
setup_tmpdir
tgt_start
tgt_add_target 1 "$IQN"
tgt_add_lun 1 1 64
tgt_bind 1
BACKING=$TGT_LUN_FILE
iscsifs_config "$(channel_line 0 "$TGT_PORT" "$IQN")"
MNT=$TEST_TMP/mnt
start_iscsifs "$MNT"
LUN=$MNT/$IQN/lun1

export ISCSIFS ISCSIFS_CTL=$ISCTL ISCSIFS_MAP_DIR=$SCRIPTS ISCSIFS_MOUNTPOINT=$MNT
export ISCSIFS_CONTROL_SOCKET=$ISCSIFS_ETC/control.sock ISCSIFS_CONFIG=$ISCSIFS_ETC/iscsifs.conf
export ISCSIFS_DEFAULTS=/dev/null ISCSIFS_MAP_LOCK=$TEST_TMP/maps.lock
initiator() { timeout -k 10 300 "$SCRIPTS/initiator" "$@"; }
ctl() { timeout -k 10 60 "$ISCTL" "$@"; }
channel_state() {
	ctl status 0 --json | python3 -c 'import json, sys; print(json.load(sys.stdin)["channels"][0]["state"])'
}

SRC=$TEST_TMP/src
PROGRESS=$TEST_TMP/progress
timeout -k 10 120 dd if=/dev/urandom of="$SRC" bs=1M count=64 iflag=fullblock status=none ||
	hard_error "cannot make the source data"
echo 0 >"$PROGRESS"

# dd writes 1 MiB at a time with O_DIRECT; its input comes through a FIFO at
# 10 MiB/s so that the pause lands in the middle.
mkfifo "$TEST_TMP/feed"
# If the test stops half-way, resume the channel so that the daemon can go.
defer "timeout -k 5 30 '$ISCTL' start 0 >/dev/null 2>&1; true"
python3 - "$SRC" "$PROGRESS" >"$TEST_TMP/feed" <<'EOF' &
import os, sys, time
src, progress = sys.argv[1], sys.argv[2]
with open(src, "rb") as f:
    n = 0
    while True:
        chunk = f.read(1 << 20)
        if not chunk:
            break
        sys.stdout.buffer.write(chunk)
        sys.stdout.buffer.flush()
        n += 1
        with open(progress + ".tmp", "w") as p:
            p.write("%d\n" % n)
        os.replace(progress + ".tmp", progress)
        time.sleep(0.1)
EOF
FEEDER=$!
defer "kill $FEEDER 2>/dev/null; true"
timeout -k 10 300 dd if="$TEST_TMP/feed" of="$LUN" bs=1M iflag=fullblock oflag=direct conv=notrunc \
	status=none &
WRITER=$!
defer "kill $WRITER 2>/dev/null; true"

fed_at_least() { [ "$(cat "$PROGRESS")" -ge "$1" ]; }
wait_for 30 fed_at_least 5 || fail "the writer made no progress"

initiator pause 0 || fail "initiator pause 0 failed"
paused_at=$(cat "$PROGRESS")
msg "paused channel 0 after $paused_at MiB fed to dd"
[ "$(channel_state)" = paused ] || fail "initiator-ctl status 0 says '$(channel_state)', want paused"
st=0
initiator status 0 >/dev/null 2>&1 || st=$?
[ "$st" -eq 3 ] || fail "initiator status 0 of a paused channel: exit $st, want 3"

sleep 4
pid_gone "$WRITER" && {
	st=0
	wait "$WRITER" || st=$?
	fail "dd ended (status $st) while the channel was paused"
}
[ "$(channel_state)" = paused ] || fail "initiator-ctl status 0 says '$(channel_state)' 4 s into the pause"
now=$(cat "$PROGRESS")
# The pipe and dd's own buffer take at most a couple of MiB more while writes wait.
[ "$now" -le $((paused_at + 3)) ] || fail "$((now - paused_at)) MiB went through during the pause"
[ "$now" -lt 64 ] || fail "all of the data went through during the pause"
msg "4 s into the pause: dd still waits ($now MiB fed), channel paused"

initiator start 0 || fail "initiator start 0 (resume) failed"
[ "$(channel_state)" = running ] || fail "channel 0 is '$(channel_state)' after start, want running"
wait_for 120 pid_gone "$WRITER" || fail "dd did not finish within 120 s of the resume"
st=0
wait "$WRITER" || st=$?
[ "$st" -eq 0 ] || fail "dd ended with status $st after the resume"
st=0
wait "$FEEDER" || st=$?
[ "$st" -eq 0 ] || fail "the feeder of dd ended with status $st"
msg "dd finished with status 0 after initiator start 0"

timeout -k 10 120 cmp "$SRC" "$LUN" || fail "the LUN file differs from the source data"
stop_iscsifs_checked
timeout -k 10 120 cmp "$SRC" "$BACKING" || fail "the target's backing file differs from the source data"
msg "LUN and backing file hold the 64 MiB written across the pause"
