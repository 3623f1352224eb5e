#!/usr/bin/env bash
# The daemon's FUSE threads under concurrent writes of every size class: 4 KiB
# and 16 KiB writes are copied, 32 KiB to 128 KiB keep the buffer the request
# was read into until the target has the data, 1 MiB waits in its thread.
# By default one thread (one per four CPUs) reads the device and the rest wait
# parked; a request that waits in its thread (here the 1 MiB writes) has another
# take its place as a reader, so the status shows more threads than read at a
# time, the idle ones parked or reading. With
# max_idle_threads=0 a thread ends after each request unless it is the last
# reader, so threads come and go all the time. In every mode no write may be
# lost or mixed up with another's buffer, and the mount must keep answering.
# Then SIGTERM: the daemon unmounts, logs out and exits 0. The same again with
# -s, where libfuse's single-threaded loop serves the mount and every write is
# copied.
set -eu
# shellcheck source-path=SCRIPTDIR source=../lib/common.sh
. "${TESTLIB:?TESTLIB must point to tests/lib}/common.sh"
# shellcheck source-path=SCRIPTDIR source=../lib/target.sh
. "$TESTLIB/target.sh"

require_root
require_iscsifs
require_cmd python3 timeout
require_isctl

IQN=iqn.2026-11.org.iscsifs.test:fuse-threads
setup_tmpdir
tgt_start
tgt_add_target 1 "$IQN"
tgt_add_lun 1 1 64
tgt_bind 1
BACKING=$(tgt_lun_file 1 1)
iscsifs_config "$(channel_line 0 "$TGT_PORT" "$IQN")"
MNT=$TEST_TMP/mnt
LUN=$MNT/$IQN/lun1

cat >"$TEST_TMP/writes.py" <<'PYEOF'
import mmap, os, random, sys, threading

lun, backing = sys.argv[1], sys.argv[2]
size = os.path.getsize(backing)
sizes = [4096, 16384, 32768, 65536, 131072, 1 << 20]
nthreads, per = 8, 60
# Each writer owns one 8 MiB stripe, so the expected content is known whatever the
# order the writes complete in.
stripe = size // nthreads
expect = bytearray(size)
errors = []

def writer(idx):
    rng = random.Random(idx)
    base = idx * stripe
    fd = os.open(lun, os.O_RDWR | os.O_DIRECT)
    buf = mmap.mmap(-1, max(sizes))  # page aligned, as O_DIRECT wants
    try:
        for _ in range(per):
            n = rng.choice(sizes)
            off = base + rng.randrange(0, (stripe - n) // 4096 + 1) * 4096
            data = rng.randbytes(n)
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

# threads: the FUSE thread counts of the status, "running reading parked peak
# max_reading", or "none" when libfuse's loop serves the mount.
threads() {
	ctl status --json | python3 -c '
import json, sys
t = json.load(sys.stdin)["fuse_threads"]
print("none" if t is None else " ".join(str(t[k]) for k in ("running", "reading", "parked", "peak", "max_reading")))'
}

# threads_show CHECK: whether the thread counts (read into T_*) show what CHECK
# wants once the mount is at rest. kept: 8 writers' 1 MiB writes each held a
# thread, so at some time at least two were held while another read (the INIT
# request alone makes one more than max_reading), and all stay, max_reading at
# most reading and the rest parked. ended: threads end while another is reading, down
# to one. none: libfuse's loop serves the mount, no counts.
threads_show() {
	read -r T_RUNNING T_READING T_PARKED T_PEAK T_MAXR <<<"$(threads)" || return 1
	case $1 in
	kept)
		[ "$T_PEAK" -ge "$((T_MAXR + 2))" ] && [ "$T_RUNNING" -eq "$T_PEAK" ] &&
			[ "$T_READING" -ge 1 ] && [ "$T_READING" -le "$T_MAXR" ] &&
			[ "$((T_READING + T_PARKED))" -eq "$T_RUNNING" ]
		;;
	ended) [ "$T_PEAK" -gt 1 ] && [ "$T_RUNNING" -eq 1 ] && [ "$T_READING" -eq 1 ] ;;
	none) [ "$T_RUNNING" = none ] ;;
	esac
}

# run_mode CHECK ARG...: the writes and the SIGTERM stop, with the daemon started
# with ARGs; CHECK (see threads_show) is what the thread counts must show after.
run_mode() {
	local check=$1 st=0 mode detail
	shift
	mode=${*:-default}
	start_iscsifs "$MNT" "$@"
	timeout -k 10 300 python3 "$TEST_TMP/writes.py" "$LUN" "$BACKING" ||
		fail "$mode: concurrent writes of 4 KiB to 1 MiB did not all reach the target intact"
	# The mount still answers after the threads have come and gone.
	head -c 4096 "$LUN" >/dev/null || fail "$mode: the LUN file cannot be read after the writes"
	# The file's release may still be on its way: the counts settle within moments.
	T_RUNNING='?' T_READING='?' T_PARKED='?' T_PEAK='?'
	wait_for 10 threads_show "$check" ||
		fail "$mode: FUSE thread counts are not what '$check' wants: $T_RUNNING running, $T_READING reading, $T_PARKED parked, peak $T_PEAK"
	kill -TERM "$ISCSIFS_PID"
	wait_iscsifs_exit 30 || st=$?
	[ "$st" -eq 0 ] || fail "$mode: daemon exited with status $st on SIGTERM (124: still running)"
	! is_mounted "$MNT" || fail "$mode: the mount is still there after SIGTERM"
	grep -q 'logged out of' "$ISCSIFS_LOG" || fail "$mode: the daemon did not log out on SIGTERM"
	detail="libfuse's loop"
	[ "$check" = none ] || detail="FUSE threads: $T_RUNNING running, $T_READING reading, peak $T_PEAK"
	msg "$mode: 8 writers x 60 direct writes of 4 KiB to 1 MiB reached the target intact ($detail); SIGTERM ended the daemon cleanly"
}
run_mode kept
run_mode ended -o max_idle_threads=0
run_mode none -s

# Reads alone, with room for one command in the LUN's queue and the channel
# paused, so the queue stays full: a FUSE thread that has to wait for room has
# another take its place as a reader, so 8 readers in one process (one open file)
# soon have a thread each, 7 of them waiting, and still one reading; without that
# the readers of the device would wait and the mount would answer nothing more
# until the resume. After the resume every read returns the target's bytes.
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
waiting_replaced() {
	read -r T_RUNNING T_READING T_PARKED T_PEAK T_MAXR <<<"$(threads)" &&
		[ "$((T_RUNNING - T_READING - T_PARKED))" -ge 7 ] && [ "$T_READING" -ge 1 ]
}
CHANNEL_ATTRS="nopout_timeout=5,queue_depth=1"
iscsifs_config "$(channel_line 0 "$TGT_PORT" "$IQN")"
grep -q 'queue_depth=1' "$ISCSIFS_ETC/initiator" || hard_error "the channel line has no queue_depth=1"
# while_paused SCRIPT WHAT: pause the channel, start the Python SCRIPT (in TEST_TMP)
# on the LUN in the background as BG, wait until waiting_replaced holds (failing
# with WHAT and the counts if it does not), note the thread count in WAITED and
# resume. The caller waits for BG.
while_paused() {
	ctl pause 0 || fail "initiator-ctl pause 0 failed"
	timeout -k 10 120 python3 "$TEST_TMP/$1" "$LUN" "$BACKING" &
	BG=$!
	defer "kill $BG 2>/dev/null; true"
	T_RUNNING='?' T_READING='?' T_PARKED='?' T_PEAK='?'
	wait_for 10 waiting_replaced ||
		fail "queue_depth=1, paused: $2: $T_RUNNING FUSE threads running, $T_READING reading, $T_PARKED parked"
	WAITED=$T_RUNNING
	ctl start 0 || fail "initiator-ctl start 0 (resume) failed"
}
start_iscsifs "$MNT"
while_paused reads.py "threads waiting for room in the queue were not replaced as readers"
wait "$BG" || fail "queue_depth=1: after the resume, concurrent direct reads failed or returned other bytes than the target holds"
wait_for 10 threads_show kept ||
	fail "queue_depth=1: FUSE thread counts after the reads: $T_RUNNING running, $T_READING reading, $T_PARKED parked, peak $T_PEAK"
msg "queue_depth=1, paused: $WAITED FUSE threads while 8 readers waited ($T_MAXR reading at most); after the resume 8 x 64 direct 4 KiB reads read back the target's bytes"

# The same with synchronous writes: the file is opened for parallel direct writes,
# so the kernel does not hold the inode's lock across each write and 8 writing
# threads reach the daemon together; the first write's command takes the queue,
# the next 7 wait in their FUSE threads, each replaced as a reader. (With the
# kernel's lock held, one write at a time would reach the daemon and no thread
# would wait.) After the resume the target holds every writer's bytes.
cat >"$TEST_TMP/syncwrites.py" <<'PYEOF'
import mmap, os, random, sys, threading

lun, backing = sys.argv[1], sys.argv[2]
fd = os.open(lun, os.O_WRONLY | os.O_DIRECT)
expect = {}
errors = []

def writer(idx):
    rng = random.Random(100 + idx)
    buf = mmap.mmap(-1, 4096)
    for k in range(16):
        off = (idx * 16 + k) * 4096
        data = rng.randbytes(4096)
        buf[:] = data
        if os.pwritev(fd, [buf], off) != 4096:
            errors.append("writer %d: short write at %d" % (idx, off))
            return
        expect[off] = data

threads = [threading.Thread(target=writer, args=(i,)) for i in range(8)]
for t in threads:
    t.start()
for t in threads:
    t.join()
os.close(fd)
if errors:
    sys.exit("; ".join(errors[:4]))
with open(backing, "rb") as f:
    for off in sorted(expect):
        f.seek(off)
        if f.read(4096) != expect[off]:
            sys.exit("the target's 4 KiB at %d differ from what was written" % off)
PYEOF
while_paused syncwrites.py "8 threads' synchronous direct writes did not reach the daemon together (the kernel held them one at a time?)"
wait "$BG" || fail "queue_depth=1: after the resume, concurrent synchronous direct writes failed or did not reach the target intact"
stop_iscsifs_checked
msg "queue_depth=1, paused: $WAITED FUSE threads while 8 threads' synchronous writes waited together; after the resume the target holds all 8 x 16 direct 4 KiB writes"
