#!/usr/bin/env bash
# The Debian package as an administrator meets it: built with
# 'dpkg-buildpackage -us -uc -b' from the release tarball (or from this source
# tree), clean under lintian (no error, no warning), installed with apt-get,
# then the demo's topology (tgtd on 127.0.0.1 with one 64 MiB LUN in /dev/shm)
# run through the installed /etc/init.d/initiator: start, status, a message
# written into the LUN file and read back through it and from the target's
# file, stop (and the daemon's process gone). Then removed (the configuration
# stays) and purged: nothing the package installed or made is left, and an
# /etc/initiatorname.iscsi it did not make is left as it was.
#
# Usage: tests/package/install-purge.sh [iscsifs-VERSION.tar.gz]
# As root on Debian; changes the machine's packages (it is a separate step of
# .ci/run, not part of 'make check'). Skips where iscsifs is already installed.
set -eu

HERE=$(cd "$(dirname "$0")" && pwd)
SRCDIR=$(cd "$HERE/../.." && pwd)
TESTLIB=$SRCDIR/tests/lib
ISCSIFS=/usr/sbin/iscsifs
ISCSIFS_LOG_LEVEL=
# shellcheck source-path=SCRIPTDIR source=../lib/common.sh
. "$TESTLIB/common.sh"
# shellcheck source-path=SCRIPTDIR source=../lib/target.sh
. "$TESTLIB/target.sh"
TEST_NAME=install-purge

TARBALL=${1:-}
[ -z "$TARBALL" ] || TARBALL=$(readlink -f "$TARBALL")

require_root
require_cmd dpkg-buildpackage dh lintian apt-get dpkg-query runuser flock tar tgtd tgtadm
require_fuse
[ -z "$TARBALL" ] || [ -f "$TARBALL" ] || hard_error "no tarball $TARBALL"

# The default control socket and mountpoint are the machine's: one run at a time.
exec 9>/run/lock/iscsifs-package-test.lock
flock -w 600 9 || skip "another package test holds /run/lock/iscsifs-package-test.lock"

# dpkg's state of iscsifs: empty, "un" or "pn" when it is not on the machine.
pkg_state() {
	local st
	st=$(dpkg-query -W -f='${db:Status-Abbrev}' iscsifs 2>/dev/null) || st=
	st=${st// /}
	case $st in un | pn) st= ;; esac
	printf '%s\n' "$st"
}
state=$(pkg_state)
[ -z "$state" ] ||
	skip "the iscsifs package is already on this machine (dpkg state '$state'): the test would remove it"
for f in /usr/sbin/iscsifs /etc/init.d/initiator /lib/systemd/system/iscsifs.service /etc/iscsifs.conf; do
	[ ! -e "$f" ] || skip "$f exists (an iscsifs installed by hand?): the test would overwrite it"
done
if pgrep -x iscsifs >/dev/null 2>&1 && [ -S /run/iscsifs/control.sock ]; then
	skip "an iscsifs daemon serves the default control socket /run/iscsifs/control.sock"
fi

setup_tmpdir

# What the package may touch, listed before and compared after the purge.
WATCHED=(/etc /usr/sbin /lib/systemd /usr/lib/systemd /usr/share/man /usr/share/doc
	/var/lib/iscsifs /var/lib/systemd/deb-systemd-helper-enabled /run/iscsifs)
snapshot() { find "${WATCHED[@]}" -xdev 2>/dev/null | LC_ALL=C sort; }
snapshot >"$TEST_TMP/before"
NAME_FILE=/etc/initiatorname.iscsi
had_name=0
[ ! -e "$NAME_FILE" ] || { had_name=1; cp -p "$NAME_FILE" "$TEST_TMP/name.before"; }

# --- build ------------------------------------------------------------------
BUILD=$TEST_TMP/build
mkdir -p "$BUILD"
if [ -n "$TARBALL" ]; then
	tar -xzf "$TARBALL" -C "$BUILD" || hard_error "cannot unpack $TARBALL"
	SRC=$(find "$BUILD" -mindepth 1 -maxdepth 1 -type d -name 'iscsifs-*' | head -n 1)
else
	SRC=$BUILD/iscsifs-src
	mkdir -p "$SRC"
	# The tracked files where there is a git checkout, else the tree without builds.
	if git -C "$SRCDIR" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
		(cd "$SRCDIR" && git ls-files -z | tar -cf - --null -T -) | tar -xf - -C "$SRC"
	else
		(cd "$SRCDIR" && tar -cf - --exclude=./build --exclude='./iscsifs-*' .) | tar -xf - -C "$SRC"
	fi
fi
[ -f "${SRC:-/nonexistent}/debian/control" ] || fail "no debian/ in the sources to build from"
msg "building the package in $SRC"
t0=$SECONDS
(cd "$SRC" && timeout -k 10 900 dpkg-buildpackage -us -uc -b) >"$TEST_TMP/build.log" 2>&1 || {
	tail -n 60 "$TEST_TMP/build.log" >&2
	fail "dpkg-buildpackage -us -uc -b failed"
}
DEB=$(find "$BUILD" -maxdepth 1 -name 'iscsifs_*.deb' | head -n 1)
CHANGES=$(find "$BUILD" -maxdepth 1 -name 'iscsifs_*.changes' | head -n 1)
if [ ! -f "${DEB:-/nonexistent}" ] || [ ! -f "${CHANGES:-/nonexistent}" ]; then
	fail "dpkg-buildpackage made no iscsifs .deb and .changes"
fi
msg "built $(basename "$DEB") in $((SECONDS - t0)) s"

# lintian as an unprivileged user (it warns when run as root); status 0 only
# when it ran and found no error and no warning.
chmod -R a+rX "$TEST_TMP"
st=0
runuser -u nobody -- env HOME=/tmp timeout -k 10 600 lintian --pedantic --fail-on error,warning \
	"$CHANGES" >"$TEST_TMP/lintian.out" 2>&1 || st=$?
cat "$TEST_TMP/lintian.out"
[ "$st" -eq 0 ] || fail "lintian reports errors or warnings, or did not run (status $st)"
msg "lintian: no error or warning"

# --- install ------------------------------------------------------------------
purge_pkg() {
	env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin /etc/init.d/initiator stop >/dev/null 2>&1 || true
	timeout -k 10 300 dpkg --purge iscsifs >/dev/null 2>&1 || true
}
defer purge_pkg
apt_get() {
	DEBIAN_FRONTEND=noninteractive timeout -k 10 900 apt-get -o DPkg::Lock::Timeout=300 -q -y "$@" </dev/null
}
apt_get install "$DEB" >"$TEST_TMP/install.log" 2>&1 || {
	cat "$TEST_TMP/install.log" >&2
	fail "apt-get install $DEB failed"
}
[ "$(pkg_state)" = ii ] || fail "iscsifs is not installed after apt-get install"
for f in /usr/sbin/iscsifs /usr/sbin/initiator-ctl /usr/sbin/iscsi-iname /usr/sbin/iscsi-map-channel \
	/usr/sbin/iscsi-unmap-channel /usr/sbin/iscsi-remap-channel /etc/init.d/initiator; do
	[ -x "$f" ] || fail "$f is not installed (or not executable)"
done
[ -f /lib/systemd/system/iscsifs.service ] || fail "the systemd unit is not installed"
for m in iscsifs.8 initiator-ctl.8 iscsi-iname.8 iscsi-map-channel.8 iscsi-unmap-channel.8 \
	initiator.5 initiator_auth.5 iscsi_device_maps.5 iscsifs.conf.5; do
	[ -e "/usr/share/man/man${m##*.}/$m.gz" ] || fail "man page $m is not installed"
done
conffiles=$(dpkg-query -W -f='${Conffiles}\n' iscsifs | awk 'NF { print $1 }' | sort)
for f in /etc/init.d/initiator /etc/iscsifs.conf /etc/sysconfig/initiator \
	/etc/sysconfig/initiator_auth /etc/sysconfig/iscsi_device_maps; do
	grep -qxF "$f" <<<"$conffiles" || fail "$f is not a conffile (conffiles: $conffiles)"
done
[ "$(stat -c %a /etc/sysconfig/initiator_auth)" = 600 ] || fail "/etc/sysconfig/initiator_auth is not mode 0600"
# Disabled until enabled: no start link in any runlevel, no systemd symlink.
if compgen -G '/etc/rc[2345].d/S*initiator' >/dev/null; then
	fail "the init script is enabled: $(echo /etc/rc[2345].d/S*initiator)"
fi
if find /etc/systemd/system -name 'iscsifs.service' 2>/dev/null | grep -q .; then
	fail "the systemd unit is enabled: $(find /etc/systemd/system -name iscsifs.service)"
fi
if [ "$had_name" = 1 ]; then
	cmp -s "$NAME_FILE" "$TEST_TMP/name.before" || fail "installing changed the existing $NAME_FILE"
else
	grep -q '^InitiatorName=iqn\.' "$NAME_FILE" 2>/dev/null || fail "postinst did not write $NAME_FILE"
fi
msg "installed: $(grep '^InitiatorName=' "$NAME_FILE")"

# --- the demo's topology through the installed init script --------------------
IQN=iqn.2026-11.org.iscsifs.demo:disk
tgt_start
tgt_add_target 1 "$IQN"
tgt_add_lun 1 1 64 demo
tgt_bind 1
BACKING=$TGT_LUN_FILE
printf 'CHANNEL="%s"\n' "$(channel_line 0 "$TGT_PORT" "$IQN")" >>/etc/sysconfig/initiator
# The init script as the administrator runs it: none of the test's variables.
initd() { env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin timeout -k 10 300 /etc/init.d/initiator "$@"; }

initd start || fail "/etc/init.d/initiator start failed"
DAEMON_PID=$(env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin timeout 30 initiator-ctl pid) ||
	fail "initiator-ctl pid failed after start"
[ "$(readlink "/proc/$DAEMON_PID/exe")" = /usr/sbin/iscsifs ] ||
	fail "the daemon (pid $DAEMON_PID) is not the installed /usr/sbin/iscsifs"
st=0
initd status >"$TEST_TMP/status.out" 2>&1 || st=$?
cat "$TEST_TMP/status.out"
[ "$st" -eq 0 ] || fail "/etc/init.d/initiator status: exit $st while running, want 0"
grep -q "^channel 0: running, target $IQN" "$TEST_TMP/status.out" ||
	fail "status does not show channel 0 running"
LUN=/run/iscsifs/luns/$IQN/lun1
[ -e "$LUN" ] || fail "no $LUN"
OFFSET=1048576
MESSAGE="Hello from the iscsifs package, $(date -u '+%Y-%m-%d %H:%M:%S') UTC"
printf '%s' "$MESSAGE" |
	timeout 60 dd of="$LUN" bs=4096 seek="$OFFSET" oflag=seek_bytes conv=notrunc,fsync status=none ||
	fail "writing into $LUN failed"
readback() {
	timeout 60 dd if="$1" bs=4096 skip="$OFFSET" count="${#MESSAGE}" \
		iflag=skip_bytes,count_bytes status=none
}
[ "$(readback "$LUN")" = "$MESSAGE" ] || fail "the LUN file did not return the message"
[ "$(readback "$BACKING")" = "$MESSAGE" ] || fail "the message did not reach the target's file"
msg "message written through $LUN and read back from it and from tgtd's file"

initd stop || fail "/etc/init.d/initiator stop failed"
# A zombie has exited (its parent, after the daemon detached, may be slow to reap it).
dstate=$(sed -n 's/^State:[[:space:]]*\([[:alpha:]]\).*/\1/p' "/proc/$DAEMON_PID/status" 2>/dev/null) || dstate=
[ -n "$dstate" ] || [ ! -e "/proc/$DAEMON_PID/status" ] || dstate=unreadable
case $dstate in '' | Z | X) ;; *) fail "the daemon (pid $DAEMON_PID) still runs after stop returned (state $dstate)" ;; esac
is_mounted /run/iscsifs/luns && fail "/run/iscsifs/luns is still mounted after stop"
st=0
initd status >/dev/null 2>&1 || st=$?
[ "$st" -eq 3 ] || fail "/etc/init.d/initiator status after stop: exit $st, want 3"
tgt_stop
msg "start, status, stop through /etc/init.d/initiator"

# --- remove and purge -----------------------------------------------------------
apt_get remove iscsifs >"$TEST_TMP/remove.log" 2>&1 || {
	cat "$TEST_TMP/remove.log" >&2
	fail "apt-get remove iscsifs failed"
}
[ ! -e /usr/sbin/iscsifs ] || fail "/usr/sbin/iscsifs is still there after remove"
[ -f /etc/sysconfig/initiator ] || fail "remove took the configuration (only purge may)"
timeout -k 10 300 dpkg --purge iscsifs >"$TEST_TMP/purge.log" 2>&1 || {
	cat "$TEST_TMP/purge.log" >&2
	fail "dpkg --purge iscsifs failed"
}
state=$(pkg_state)
[ -z "$state" ] || fail "dpkg still knows iscsifs after the purge (state '$state')"
if [ "$had_name" = 1 ]; then
	cmp -s "$NAME_FILE" "$TEST_TMP/name.before" || fail "the purge changed or removed the existing $NAME_FILE"
fi
snapshot >"$TEST_TMP/after"
if ! diff "$TEST_TMP/before" "$TEST_TMP/after" >"$TEST_TMP/left"; then
	cat "$TEST_TMP/left" >&2
	fail "the machine differs after the purge (< before, > after)"
fi
msg "removed and purged: nothing left in ${WATCHED[*]}"

# --- an initiator name the package did not make is kept -------------------------
if [ "$had_name" = 0 ]; then
	printf 'InitiatorName=%s\n' "$TEST_INITIATOR_IQN" >"$NAME_FILE"
	defer "rm -f $NAME_FILE"
	cp -p "$NAME_FILE" "$TEST_TMP/name.before"
	timeout -k 10 300 dpkg -i "$DEB" >"$TEST_TMP/install2.log" 2>&1 || {
		cat "$TEST_TMP/install2.log" >&2
		fail "dpkg -i $DEB failed"
	}
	cmp -s "$NAME_FILE" "$TEST_TMP/name.before" || fail "installing changed an existing $NAME_FILE"
	timeout -k 10 300 dpkg --purge iscsifs >"$TEST_TMP/purge2.log" 2>&1 || {
		cat "$TEST_TMP/purge2.log" >&2
		fail "the second dpkg --purge iscsifs failed"
	}
	cmp -s "$NAME_FILE" "$TEST_TMP/name.before" || fail "the purge removed an $NAME_FILE it did not make"
	rm -f "$NAME_FILE"
	snapshot >"$TEST_TMP/after2"
	diff "$TEST_TMP/before" "$TEST_TMP/after2" >&2 || fail "the machine differs after the second purge"
	msg "an $NAME_FILE made before the installation outlives install and purge unchanged"
fi
msg "PASS"
