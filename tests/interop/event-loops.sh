#!/usr/bin/env bash
# The daemon's event loops under concurrent writes of every size, with each way
# of serving FUSE: the default, one loop (-s), the classic device with two loops,
# and FUSE over io_uring with a loop per CPU pinned (where the kernel has it: this
# test turns /sys/module/fuse/parameters/enable_uring on for its own run and
# puts back what it found). No write may be lost or mixed up with another, and
# status must name the transport and the loops. Then, with room for one command
# in the LUN's queue and the channel paused, 8 readers wait without holding any
# thread: the mount still answers, another channel's LUN reads back its target's
# bytes, and after the resume every waiting read returns the target's bytes.
# Each run ends with SIGTERM: the daemon unmounts, logs out and exits 0.
set -eu
# shellcheck source-path=SCRIPTDIR source=../lib/common.sh
. "${TESTLIB:?TESTLIB must point to tests/lib}/common.sh"
# shellcheck source-path=SCRIPTDIR source=../lib/target.sh
. "$TESTLIB/target.sh"

require_root
require_iscsifs
require_cmd python3 timeout
require_isctl

IQN=iqn.2026-11.org.iscsifs.test:event-loops
OTHER=iqn.2026-11.org.iscsifs.test:event-loops-other
setup_tmpdir
tgt_start
tgt_add_target 1 "$IQN"
tgt_add_lun 1 1 64
tgt_add_target 2 "$OTHER"
tgt_add_lun 2 1 8
tgt_bind 1
tgt_bind 2
BACKING=$(tgt_lun_file 1 1)
OTHER_BACKING=$(tgt_lun_file 2 1)
MNT=$TEST_TMP/mnt
LUN=$MNT/$IQN/lun1
OTHER_LUN=$MNT/$OTHER/lun1
NCPU=$(getconf _NPROCESSORS_ONLN)

cat >"$TEST_TMP/writes.py" <<'PYEOF'
import mmap, os, random, sys, threading

lun, backing = sys.argv[1], sys.argv[2]
size = os.path.getsize(backing)
# Aligned sizes from a page to 1 MiB, and writes that do not cover whole blocks
# (read-modify-write, on a worker thread).
sizes = [4096, 16384, 32768, 65536, 131072, 1 << 20, 1000, 70000]
nthreads, per = 8, 50
# Each writer owns one stripe, so the expected content is known whatever the
# order the writes complete in.
stripe = size // nthreads
expect = bytearray(size)
errors = []

def writer(idx):
    rng = random.Random(idx)
    base = idx * stripe
    fd = os.open(lun, os.O_RDWR | (os.O_DIRECT if idx % 2 == 0 else 0))
    buf = mmap.mmap(-1, 1 << 20)  # page aligned, as O_DIRECT wants
    try:
        for _ in range(per):
            n = rng.choice(sizes)
            if n % 4096 or idx % 2:
                off = base + rng.randrange(0, stripe - n)
            else:
                off = base + rng.randrange(0, (stripe - n) // 4096 + 1) * 4096
            data = rng.randbytes(n)
            if n % 4096 or idx % 2:
                got = os.pwrite(fd, data, off)
            else:
                buf[:n] = data
                got = os.pwritev(fd, [memoryview(buf)[:n]], off)
            if got != n:
                errors.append("write of %d bytes at %d wrote %d" % (n, off, got))
                return
            expect[off:off + n] = data
    except OSError as e:
        errors.append("writer %d: %s" % (idx, e))
    finally:
        os.close(fd)

# Start from zeros, so that what no writer touched is known too.
fd = os.open(lun, os.O_WRONLY | os.O_DIRECT)
zero = mmap.mmap(-1, 1 << 20)
for off in range(0, size, 1 << 20):
    os.pwritev(fd, [zero], off)
os.close(fd)
threads = [threading.Thread(target=writer, args=(i,)) for i in range(nthreads)]
for t in threads:
    t.start()
for t in threads:
    t.join()
if errors:
    sys.exit("; ".join(errors[:4]))
got = open(backing, "rb").read()
if got != bytes(expect):
    bad = next(i for i in range(size) if got[i] != expect[i])
    sys.exit("the target's file differs from what was written, first at byte %d" % bad)
PYEOF
ctl() { timeout -k 10 60 "$ISCTL" -s "$ISCSIFS_ETC/control.sock" "$@"; }

# serving: "TRANSPORT LOOPS PINNED" from the status.
serving() {
	ctl status --json | python3 -c '
import json, sys
j = json.load(sys.stdin)
print(j["fuse"]["transport"], len(j["loops"]), sum(1 for l in j["loops"] if l["cpu"] >= 0))'
}

# stop_by_signal MODE: SIGTERM, and the daemon ends cleanly.
stop_by_signal() {
	local st=0
	kill -TERM "$ISCSIFS_PID"
	wait_iscsifs_exit 30 || st=$?
	[ "$st" -eq 0 ] || fail "$1: daemon exited with status $st on SIGTERM (124: still running)"
	! is_mounted "$MNT" || fail "$1: the mount is still there after SIGTERM"
	grep -q 'logged out of' "$ISCSIFS_LOG" || fail "$1: the daemon did not log out on SIGTERM"
}

# run_mode NAME WANT ARG...: the writes with the daemon started with ARGs; WANT
# is what serving must print.
run_mode() {
	local name=$1 want=$2 got
	shift 2
	start_iscsifs "$MNT" "$@"
	got=$(serving) || fail "$name: no status"
	[ "$got" = "$want" ] || fail "$name: status says '$got' (transport, loops, pinned), not '$want'"
	timeout -k 10 300 python3 "$TEST_TMP/writes.py" "$LUN" "$BACKING" ||
		fail "$name: concurrent writes of 1000 bytes to 1 MiB did not all reach the target intact"
	head -c 4096 "$LUN" >/dev/null || fail "$name: the LUN file cannot be read after the writes"
	stop_by_signal "$name"
	msg "$name ($got): 8 writers x 50 writes of 1000 bytes to 1 MiB reached the target intact; SIGTERM ended the daemon cleanly"
}

iscsifs_config "$(channel_line 0 "$TGT_PORT" "$IQN")" "$(channel_line 1 "$TGT_PORT" "$OTHER")"
URING=/sys/module/fuse/parameters/enable_uring
WAS=
if [ -w "$URING" ]; then
	WAS=$(cat "$URING")
	defer "echo $WAS >$URING"
	echo N >"$URING"
fi
run_mode default "classic $NCPU 0"
run_mode one-loop "classic 1 0" -s
run_mode classic-two-loops "classic 2 0" --loops=2 --fuse-io=classic
if [ -n "$WAS" ]; then
	echo Y >"$URING"
	run_mode io_uring-pinned "io_uring $NCPU $NCPU" --fuse-io=uring --pin-loops
	run_mode io_uring-one-loop "io_uring 1 0" --fuse-io=uring --loops=1
	echo N >"$URING"
else
	msg "no FUSE over io_uring in this kernel ($URING missing): its modes not run"
fi

# Reads that wait for the LUN's queue, with the channel paused: they hold no
# thread and no loop, so the mount answers and the other channel reads on.
cat >"$TEST_TMP/reads.py" <<'PYEOF'
import mmap, os, sys, threading

lun, backing = sys.argv[1], sys.argv[2]
fd = os.open(lun, os.O_RDONLY | os.O_DIRECT)
want = open(backing, "rb").read(8 * 64 * 4096)
errors = []

def reader(idx):
    buf = mmap.mmap(-1, 4096)
    for k in range(64):
        off = (idx * 64 + k) * 4096
        if os.preadv(fd, [buf], off) != 4096 or buf[:] != want[off:off + 4096]:
            errors.append("reader %d: the 4 KiB at %d differ from the target's" % (idx, off))
            return

threads = [threading.Thread(target=reader, args=(i,)) for i in range(8)]
for t in threads:
    t.start()
for t in threads:
    t.join()
os.close(fd)
if errors:
    sys.exit("; ".join(errors[:4]))
PYEOF
waiting() {
	[ "$(ctl status --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["fuse"]["inflight"])')" -ge 8 ]
}
CHANNEL_ATTRS="nopout_timeout=5,queue_depth=1"
iscsifs_config "$(channel_line 0 "$TGT_PORT" "$IQN")" \
	"$(CHANNEL_ATTRS=nopout_timeout=5 channel_line 1 "$TGT_PORT" "$OTHER")"
start_iscsifs "$MNT"
ctl pause 0 || fail "initiator-ctl pause 0 failed"
timeout -k 10 120 python3 "$TEST_TMP/reads.py" "$LUN" "$BACKING" &
BG=$!
defer "kill $BG 2>/dev/null; true"
wait_for 10 waiting || fail "queue_depth=1, paused: the 8 readers' requests did not reach the daemon"
stat "$LUN" >/dev/null || fail "queue_depth=1, paused: stat of the waiting LUN's file failed"
timeout -k 5 20 dd if="$OTHER_LUN" of="$TEST_TMP/other" bs=64k count=16 iflag=direct status=none ||
	fail "queue_depth=1, paused: the other channel's LUN did not answer while reads waited"
cmp -s "$TEST_TMP/other" <(head -c $((1 << 20)) "$OTHER_BACKING") ||
	fail "queue_depth=1, paused: the other channel's LUN read back other bytes than its target's"
pid_gone "$BG" && fail "queue_depth=1, paused: the readers ended while the channel was paused"
ctl start 0 || fail "initiator-ctl start 0 (resume) failed"
wait "$BG" || fail "queue_depth=1: after the resume, concurrent direct reads failed or returned other bytes than the target holds"
stop_by_signal "paused reads"
msg "queue_depth=1, paused: 8 readers waited without a thread while the other channel read on; after the resume 8 x 64 direct 4 KiB reads read back the target's bytes"
