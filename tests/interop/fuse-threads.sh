#!/usr/bin/env bash
# The daemon's FUSE threads under concurrent writes of every size class: 4 KiB
# and 16 KiB writes are copied, 32 KiB to 128 KiB keep the buffer the request
# was read into until the target has the data, 1 MiB waits in its thread.
# With max_idle_threads=0 a thread ends after each request unless it is the
# last, so threads come and go all the time; no write may be lost or mixed up
# with another's buffer, and the mount must keep answering. Then SIGTERM: the
# daemon unmounts, logs out and exits 0. The same again with -s, where libfuse's
# single-threaded loop serves the mount and every write is copied.
set -eu
# shellcheck source-path=SCRIPTDIR source=../lib/common.sh
. "${TESTLIB:?TESTLIB must point to tests/lib}/common.sh"
# shellcheck source-path=SCRIPTDIR source=../lib/target.sh
. "$TESTLIB/target.sh"

require_root
require_iscsifs
require_cmd python3 timeout

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
# run_mode ARG...: the writes and the SIGTERM stop, with the daemon started with ARGs.
run_mode() {
	local st=0
	start_iscsifs "$MNT" "$@"
	timeout -k 10 300 python3 "$TEST_TMP/writes.py" "$LUN" "$BACKING" ||
		fail "$*: concurrent writes of 4 KiB to 1 MiB did not all reach the target intact"
	# The mount still answers after the threads have come and gone.
	head -c 4096 "$LUN" >/dev/null || fail "$*: the LUN file cannot be read after the writes"
	kill -TERM "$ISCSIFS_PID"
	wait_iscsifs_exit 30 || st=$?
	[ "$st" -eq 0 ] || fail "$*: daemon exited with status $st on SIGTERM (124: still running)"
	! is_mounted "$MNT" || fail "$*: the mount is still there after SIGTERM"
	grep -q 'logged out of' "$ISCSIFS_LOG" || fail "$*: the daemon did not log out on SIGTERM"
	msg "$*: 8 writers x 60 direct writes of 4 KiB to 1 MiB reached the target intact; SIGTERM ended the daemon cleanly"
}
run_mode -o max_idle_threads=0
run_mode -s
