# shellcheck shell=bash
# What a fresh Debian 12 machine needs to build iscsifs and run its tests, and
# the build itself; sourced by tests/run-suite and scripts/demo.

DEPS_DEBIAN_PACKAGES=(
	build-essential autoconf automake pkg-config
	libfuse3-dev fuse3 libssl-dev libconfig-dev libidn-dev libcmocka-dev liburing-dev
	tgt istgt open-isns-server open-isns-utils
	e2fsprogs fdisk util-linux psmisc iproute2 python3 kmod squashfs-tools
	tshark fio
	mandoc man-db shellcheck gdb
	clang libclang-rt-dev
	debhelper lintian
)

# Prints the packages of DEPS_DEBIAN_PACKAGES that dpkg does not list as installed.
deps_missing() {
	local pkg state
	for pkg in "${DEPS_DEBIAN_PACKAGES[@]}"; do
		state=$(dpkg-query -W -f='${db:Status-Abbrev}' "$pkg" 2>/dev/null) || state=
		case $state in
		ii*) ;;
		*) printf '%s\n' "$pkg" ;;
		esac
	done
}

# Installs whatever is missing; does nothing (and needs no network) when all is there.
deps_install() {
	local missing
	if ! command -v dpkg-query >/dev/null 2>&1; then
		echo "deps: no dpkg-query here (not Debian?); assuming the build tools are installed" >&2
		return 0
	fi
	mapfile -t missing < <(deps_missing)
	if [ "${#missing[@]}" -eq 0 ]; then
		echo "deps: all ${#DEPS_DEBIAN_PACKAGES[@]} Debian packages already installed"
		return 0
	fi
	if [ "$(id -u)" -ne 0 ]; then
		echo "deps: missing packages (${missing[*]}) and not root: cannot install them" >&2
		return 1
	fi
	echo "deps: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	# wireshark-common asks whether non-root users may capture: they may not.
	echo 'wireshark-common wireshark-common/install-setuid boolean false' |
		debconf-set-selections || return 1
	apt-get update || return 1
	apt-get install -y "${missing[@]}" </dev/null || return 1
}

# FUSE and loop devices: load the modules and create the nodes if a minimal
# /dev lacks them. Failures are not fatal: the tests that need them skip.
deps_kernel() {
	[ "$(id -u)" -eq 0 ] || return 0
	modprobe fuse 2>/dev/null || true
	modprobe loop 2>/dev/null || true
	if [ ! -c /dev/fuse ] && [ -e /sys/class/misc/fuse ]; then
		mknod -m 0666 /dev/fuse c 10 229 2>/dev/null || true
	fi
	if [ ! -c /dev/loop-control ] && [ -e /sys/class/misc/loop-control ]; then
		mknod -m 0660 /dev/loop-control c 10 237 2>/dev/null || true
	fi
	[ -c /dev/fuse ] || echo "deps: warning: no /dev/fuse; FUSE tests will skip" >&2
	[ -c /dev/loop-control ] || echo "deps: warning: no /dev/loop-control; loop tests will skip" >&2
	return 0
}

# deps_build SRCDIR [CONFIGURE-ARG...]: autoreconf in SRCDIR, configure out of
# tree in SRCDIR/build, make. Returns non-zero on the first step that fails.
deps_build() {
	local srcdir=$1
	shift
	if [ -f "$srcdir/config.status" ]; then
		echo "build: $srcdir was configured in place; run 'make distclean' there first" >&2
		return 1
	fi
	(cd "$srcdir" && autoreconf -fi) || { echo "build: autoreconf failed" >&2; return 1; }
	mkdir -p "$srcdir/build" || return 1
	(cd "$srcdir/build" && ../configure "$@") || { echo "build: configure failed" >&2; return 1; }
	(cd "$srcdir/build" && make -j2) || { echo "build: make failed" >&2; return 1; }
}
