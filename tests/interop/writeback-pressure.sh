#!/usr/bin/env bash
# The writeback hazard under memory pressure: ext4 on a loop device over a LUN
# file (direct I/O, as the map scripts attach it), written hard by fio with
# verification while memory is scarce on both sides. The writer runs in a
# memory cgroup of 48 MiB, so its dirty pages must be written back through
# the loop device, that is through the daemon, before it can go on; the
# daemon runs in a memory cgroup whose limit is its own working set (measured
# after a warm-up through the same path) plus a little, so that its
# allocations reclaim too. Passes when fio finishes within its time bound
# with every block verified, and the daemon is alive and then exits cleanly.
# While fio runs, the daemon's threads are sampled: the log says how often
# one was in uninterruptible sleep, and where (wchan), which is what the
# kernel does with a daemon that is not an IO flusher. cgroup v2 with the
# memory controller, or the cgroup v1 memory hierarchy.
set -eu
# shellcheck source-path=SCRIPTDIR source=../lib/common.sh
. "${TESTLIB:?TESTLIB must point to tests/lib}/common.sh"
# shellcheck source-path=SCRIPTDIR source=../lib/target.sh
. "$TESTLIB/target.sh"

require_root
require_iscsifs
require_loop
require_cmd losetup mkfs.ext4 e2fsck mount umount fio timeout awk python3
require_isctl

WRITER_LIMIT_MIB=48
# The daemon's request buffers are kept from request to request (a bounded
# cache in classic mode; over io_uring, one per ring entry, touched when
# registered), so its working set after the warm-up is nearly what it stays.
# What still grows under the hard write, 5 to 8 MiB, is freed memory the
# sanitizers keep in quarantine (8 MiB here) and the allocator's caches: the
# margin covers that.
DAEMON_MARGIN_MIB=12
FIO_SECONDS=300

# --- memory cgroups -------------------------------------------------------------
CG_VERSION=
CG_PARENT=
if grep -qw memory /sys/fs/cgroup/cgroup.controllers 2>/dev/null; then
	CG_VERSION=2
	CG_PARENT=/sys/fs/cgroup
	grep -qw memory "$CG_PARENT/cgroup.subtree_control" ||
		echo +memory >"$CG_PARENT/cgroup.subtree_control" 2>/dev/null ||
		skip "cannot enable the memory controller for children of $CG_PARENT"
else
	v1=$(awk -F: '$2 ~ /(^|,)memory(,|$)/ { print $3; exit }' /proc/self/cgroup)
	mnt=$(awk '$3 == "cgroup" && $4 ~ /(^|,)memory(,|$)/ { print $2; exit }' /proc/mounts)
	if [ -n "$v1" ] && [ -n "$mnt" ] && [ -d "$mnt$v1" ]; then
		CG_VERSION=1
		CG_PARENT=$mnt${v1%/}
	fi
fi
[ -n "$CG_VERSION" ] || skip "no memory cgroup here (neither cgroup v2's memory controller nor the v1 memory hierarchy)"

setup_tmpdir
cg_new() { # NAME VAR: a new cgroup, its directory in VAR
	local d=$CG_PARENT/iscsifs-$TEST_NAME-$$-$1
	mkdir "$d" || skip "cannot create a memory cgroup in $CG_PARENT"
	defer "rmdir $d 2>/dev/null || { sleep 1; rmdir $d 2>/dev/null; } || echo 'cannot remove cgroup $d' >&2"
	if [ "$CG_VERSION" = 2 ]; then
		echo 0 >"$d/memory.swap.max" 2>/dev/null || true
	fi
	printf -v "$2" '%s' "$d"
}
cg_limit() { # DIR BYTES
	if [ "$CG_VERSION" = 2 ]; then echo "$2" >"$1/memory.max"; else echo "$2" >"$1/memory.limit_in_bytes"; fi
}
cg_usage() {
	if [ "$CG_VERSION" = 2 ]; then cat "$1/memory.current"; else cat "$1/memory.usage_in_bytes"; fi
}
cg_peak() {
	if [ "$CG_VERSION" = 2 ]; then cat "$1/memory.peak" 2>/dev/null || cat "$1/memory.current"
	else cat "$1/memory.max_usage_in_bytes"; fi
}
cg_reset_peak() {
	if [ "$CG_VERSION" = 2 ]; then echo 0 >"$1/memory.peak" 2>/dev/null || true
	else echo 0 >"$1/memory.max_usage_in_bytes"; fi
}
# How often the limit was hit, and OOM kills, in words.
cg_events() {
	if [ "$CG_VERSION" = 2 ]; then
		awk '{ printf "%s %s, ", $1, $2 } END { print "" }' "$1/memory.events"
	else
		printf 'limit hit %s times, %s\n' "$(cat "$1/memory.failcnt")" \
			"$(awk '{ printf "%s %s ", $1, $2 }' "$1/memory.oom_control")"
	fi
}
cg_stat() { awk -v k="$2" '$1 == k { print $2 }' "$1/memory.stat"; }
# The daemon's FUSE requests in flight, worker threads and resident memory, in words.
daemon_mem() {
	local threads
	threads=$(timeout -k 5 30 "$ISCTL" -s "$ISCSIFS_ETC/control.sock" status --json 2>/dev/null |
		python3 -c 'import json, sys; j = json.load(sys.stdin); print("%d FUSE requests in flight, %d workers (peak %d)" % (j["fuse"]["inflight"], j["workers"]["threads"], j["workers"]["peak"]) if j.get("fuse") else "?")') ||
		threads="? FUSE requests"
	printf '%s, %s\n' "$threads" \
		"$(awk '/^(RssAnon|RssFile|VmLck):/ { printf "%s %d MiB ", $1, $2 / 1024 }' "/proc/$ISCSIFS_PID/status")"
}
mib() { echo $((($1 + 524287) / 1048576)); }

cg_new daemon CG_DAEMON
cg_new writer CG_WRITER
msg "cgroup v$CG_VERSION: daemon in $CG_DAEMON, writer in $CG_WRITER"

# --- target, daemon (in its cgroup), loop device, ext4 ------------------------
IQN=iqn.2026-11.org.iscsifs.test:pressure
tgt_start
tgt_add_target 1 "$IQN"
tgt_add_lun 1 1 448
tgt_bind 1

REAL_ISCSIFS=$ISCSIFS
cat >"$TEST_TMP/in-cgroup" <<EOF
#!/bin/sh
echo \$\$ >"$CG_DAEMON/cgroup.procs" || exit 1
exec "$REAL_ISCSIFS" "\$@"
EOF
chmod +x "$TEST_TMP/in-cgroup"
iscsifs_config "$(channel_line 0 "$TGT_PORT" "$IQN")"
MNT=$TEST_TMP/mnt
# ASan keeps freed memory in quarantine (256 MiB by default), which is not the
# daemon's working set: keep it small so that the limit measures the daemon.
ISCSIFS=$TEST_TMP/in-cgroup ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=8 \
	start_iscsifs "$MNT"
grep -qx "$ISCSIFS_PID" "$CG_DAEMON/cgroup.procs" || fail "the daemon is not in $CG_DAEMON"
LUN=$MNT/$IQN/lun1
[ -e "$LUN" ] || fail "no $LUN"

file=$(readlink -f "$LUN")
LOOP=$(timeout -k 10 60 losetup --direct-io=on -f --show "$file") || fail "losetup over $LUN failed"
defer loop_detach "$LOOP" "$file"
timeout -k 10 120 mkfs.ext4 -q -F "$LOOP" || fail "mkfs.ext4 $LOOP failed"
FS=$TEST_TMP/fs
mkdir "$FS"
timeout -k 10 60 mount "$LOOP" "$FS" || fail "mount $LOOP failed"
defer umount_if_mounted "$FS"

fio_in() { # CGROUP NAME SIZE [FIO-ARG...]: fio as a member of CGROUP, in $FS
	local cg=$1 name=$2 size=$3
	shift 3
	# shellcheck disable=SC2016 # the inner shell expands them
	timeout -k 10 "$FIO_SECONDS" sh -c 'echo $$ >"$1/cgroup.procs" && shift && exec "$@"' sh "$cg" \
		fio --name="$name" --directory="$FS" --size="$size" --numjobs=2 \
		--rw=randwrite --bsrange=4k-256k --ioengine=psync --fsync_on_close=1 \
		--verify=crc32c --do_verify=1 --verify_fatal=1 --verify_state_save=0 \
		--output="$TEST_TMP/$name.out" "$@" </dev/null >/dev/null 2>&1
}

# Warm-up, without limits (the writer's dirty pages then come in large bursts,
# which start every FUSE thread): the daemon's working set on this path.
cg_reset_peak "$CG_DAEMON"
fio_in "$CG_WRITER" warmup 64m || fail "the warm-up fio failed: $(tail -5 "$TEST_TMP/warmup.out")"
rm -f "$FS"/warmup.*
sync
ws=$(cg_peak "$CG_DAEMON")
limit=$((ws + DAEMON_MARGIN_MIB * 1048576))
cg_limit "$CG_DAEMON" "$limit" || fail "cannot set the daemon's memory limit"
cg_limit "$CG_WRITER" $((WRITER_LIMIT_MIB * 1048576)) || fail "cannot set the writer's memory limit"
cg_reset_peak "$CG_DAEMON"
cg_reset_peak "$CG_WRITER"
msg "daemon's working set $(mib "$ws") MiB (now $(mib "$(cg_usage "$CG_DAEMON")") MiB): limit $(mib "$limit") MiB; writer's limit $WRITER_LIMIT_MIB MiB"
msg "daemon after the warm-up: $(daemon_mem); $(cg_events "$CG_DAEMON")"

# Sample the daemon's threads while fio runs: state D and where they sleep.
SAMPLES=$TEST_TMP/samples
sample() {
	local t st rest
	for t in /proc/"$ISCSIFS_PID"/task/*; do
		rest=$(cat "$t/stat" 2>/dev/null) || continue
		rest=${rest##*) }
		st=${rest%% *}
		printf '%s %s\n' "$st" "$(cat "$t/wchan" 2>/dev/null || echo ?)"
	done
}
( for _ in $(seq $((FIO_SECONDS * 5))); do sample; sleep 0.2; done ) >"$SAMPLES" 2>/dev/null &
SAMPLER=$!
defer "kill $SAMPLER 2>/dev/null; true"

t0=$SECONDS
st=0
fio_in "$CG_WRITER" pressure 192m || st=$?
took=$((SECONDS - t0))
kill "$SAMPLER" 2>/dev/null || true
wait "$SAMPLER" 2>/dev/null || true

nsamples=$(wc -l <"$SAMPLES")
nd=$(awk '$1 == "D"' "$SAMPLES" | wc -l)
msg "fio: 384 MiB in random writes of 4-256 KiB, verified, in $took s (status $st)"
msg "daemon: peak $(mib "$(cg_peak "$CG_DAEMON")") MiB of its $(mib "$limit") MiB; $(cg_events "$CG_DAEMON")"
msg "daemon: $(daemon_mem)"
msg "daemon: major faults $(cg_stat "$CG_DAEMON" pgmajfault), file pages $(($(cg_stat "$CG_DAEMON" "$([ "$CG_VERSION" = 2 ] && echo file || echo total_cache)") / 1024)) KiB"
msg "writer: peak $(mib "$(cg_peak "$CG_WRITER")") MiB of $WRITER_LIMIT_MIB MiB; $(cg_events "$CG_WRITER")"
msg "daemon threads: $nd of $nsamples samples in uninterruptible sleep (D)"
awk '$1 == "D" { n[$2]++ } END { for (w in n) printf "  D in %s: %d\n", w, n[w] }' "$SAMPLES" | sort -k4 -rn
awk '{ n[$1]++ } END { for (s in n) printf "  state %s: %d\n", s, n[s] }' "$SAMPLES" | sort

pid_gone "$ISCSIFS_PID" && fail "the daemon died under memory pressure: $(cg_events "$CG_DAEMON")"
if [ "$st" -eq 124 ] || [ "$st" -eq 137 ]; then
	sample | sort | uniq -c >&2
	for t in /proc/"$ISCSIFS_PID"/task/*; do
		printf '== %s %s\n' "${t##*/}" "$(cat "$t/comm")" >&2
		cat "$t/stack" >&2 2>/dev/null || true
	done
	fail "fio did not finish within $FIO_SECONDS s: the writeback through the daemon stalled"
fi
[ "$st" -eq 0 ] || fail "fio failed or found blocks that did not verify (status $st): $(tail -5 "$TEST_TMP/pressure.out")"
grep -q 'err= 0' "$TEST_TMP/pressure.out" || fail "fio reports errors: $(grep 'err=' "$TEST_TMP/pressure.out")"

# Limits off for the teardown; the file system must be clean.
cg_limit "$CG_WRITER" max 2>/dev/null || cg_limit "$CG_WRITER" -1
cg_limit "$CG_DAEMON" max 2>/dev/null || cg_limit "$CG_DAEMON" -1
timeout -k 10 120 umount "$FS" || fail "umount $FS failed"
timeout -k 10 300 e2fsck -fn "$LOOP" >"$TEST_TMP/fsck.out" 2>&1 || {
	cat "$TEST_TMP/fsck.out" >&2
	fail "e2fsck -fn reports problems after the run"
}
loop_detach "$LOOP" "$file" || fail "detaching $LOOP failed"
stop_iscsifs_checked
msg "every block verified, the daemon alive under its limit, the file system clean"
