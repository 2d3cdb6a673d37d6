#!/usr/bin/env bash
# A Debian build root for guest kernels the host's toolchain cannot build
# modules for: sid's kernel is compiled with a newer gcc than bookworm has, and
# its Kbuild tools (fixdep, modpost, objtool) link sid's libraries.
#
#   scripts/buildroot.sh ensure SUITE [PACKAGE...]
#       create (or reuse) the root for SUITE with the build tools and the
#       given packages (the kernel's compiler, e.g. gcc-16); prints its path
#   scripts/buildroot.sh run SUITE DIR... -- COMMAND [ARG...]
#       run COMMAND inside the root with each DIR bind-mounted at the same
#       path (so absolute Kbuild paths resolve) and /proc mounted (objtool
#       reads it); COMMAND runs in the first DIR
#
# The root is <suite>/ under ${MIRRORLAB_BUILDROOTS:-<cache>/buildroot}, <cache>
# being ${MIRRORLAB_CACHE:-/var/cache/mirrorlab} (a fresh kernel cache can
# share the build roots as it shares the .deb files, see MIRRORLAB_DEBS). Its
# .complete marker holds the package list and is written last: a root without
# it, or with another list, is rebuilt from scratch (debootstrap: half a
# minute on an idle machine, three on a busy one). The mounts live in a private mount namespace, so they go
# away with the command whatever way it ends; the trap unmounts them early.
set -euo pipefail

cache=${MIRRORLAB_CACHE:-/var/cache/mirrorlab}
roots=${MIRRORLAB_BUILDROOTS:-$cache/buildroot}
mirror=${MIRRORLAB_DEBIAN_MIRROR:-http://deb.debian.org/debian}
# Kbuild needs make, bc, bison and flex; libelf and libssl headers for
# out-of-tree objtool/sign-file fallbacks; kmod for modinfo; pahole for BTF.
base_pkgs=(make libelf-dev bc bison flex libssl-dev kmod ca-certificates dwarves)

log() { printf 'buildroot: %s\n' "$*" >&2; }
die() { printf 'buildroot: error: %s\n' "$*" >&2; exit 1; }
usage() { sed -n '7,13p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

ensure() { # suite package...
	local suite=$1 root want tmp
	shift
	root=$roots/$suite
	want=$(printf '%s\n' "${base_pkgs[@]}" "$@" | sort -u | tr '\n' ' ')
	mkdir -p "$roots"
	exec 8>"$roots/.$suite.lock"
	flock 8
	if [ -f "$root/.complete" ] && [ "$(cat "$root/.complete")" = "$want" ]; then
		echo "$root"
		return 0
	fi
	command -v debootstrap >/dev/null || die "debootstrap not installed (scripts/setup.sh installs it)"
	tmp=$roots/.$suite.new
	rm -rf "$tmp" "$root"
	log "$suite: debootstrap ($want)"
	local blog=$roots/.$suite.log
	if ! debootstrap --variant=minbase --include="$(tr ' ' ',' <<<"${want% }")" \
		"$suite" "$tmp" "$mirror" >"$blog" 2>&1; then
		tail -n 30 "$blog" >&2
		die "$suite: debootstrap failed (full log: $blog)"
	fi
	# Nothing runs apt in the root later; its package cache is dead weight.
	rm -rf "$tmp"/var/cache/apt/archives/*.deb "$tmp"/var/lib/apt/lists/*_Packages
	mv "$tmp" "$root"
	echo "$want" >"$root/.complete"
	log "$suite: ready in $root"
	echo "$root"
}

run() { # suite dir... -- command...
	local suite=$1 root dirs=() d status
	shift
	root=$roots/$suite
	[ -f "$root/.complete" ] || die "$suite: no build root in $root; run scripts/buildroot.sh ensure $suite"
	# Runs share the root (a kernel build takes half an hour; module
	# builds must not wait for it). Each creates its mount points under the
	# root; removing them afterwards would pull a directory from under a
	# concurrent run (rmdir of a mount point in another namespace detaches
	# it there), so a run removes its mount points only when it can take
	# the lock exclusively, that is when no other run is in progress.
	local lock
	exec {lock}>"$root.lock"
	flock -s "$lock"
	while [ $# -gt 0 ] && [ "$1" != -- ]; do
		dirs+=("$(realpath -s "$1")")
		shift
	done
	[ $# -gt 1 ] && [ ${#dirs[@]} -gt 0 ] || usage
	shift
	# Mount points: remember the topmost directory each mkdir creates, so
	# that only those are removed afterwards, never the root's own (/tmp).
	local made=() top
	for d in "${dirs[@]}"; do
		top=
		while [ ! -e "$root$d" ]; do
			top=$root$d
			d=$(dirname "$d")
		done
		[ -n "$top" ] && made+=("$top")
	done
	for d in "${dirs[@]}"; do mkdir -p "$root$d"; done
	# The inner shell is the namespace's only process: its mounts die with
	# it, and unshare makes them private, so the host never sees them.
	unshare --mount --propagation private bash -euc '
		root=$1 ndirs=$2
		shift 2
		mounted=()
		cleanup() {
			local i
			for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do umount "${mounted[$i]}" || true; done
		}
		trap cleanup EXIT
		mount -t proc proc "$root/proc"
		mounted+=("$root/proc")
		work=$1
		for ((i = 0; i < ndirs; i++)); do
			mount --bind "$1" "$root$1"
			mounted+=("$root$1")
			shift
		done
		chroot "$root" /usr/bin/env -C "$work" PATH=/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C.UTF-8 "$@"
	' buildroot "$root" "${#dirs[@]}" "${dirs[@]}" "$@" || status=$?
	# The mount points are empty again; rm -d removes only empty directories.
	if flock -n -x "$lock"; then
		for top in "${made[@]}"; do find "$top" -depth -type d -exec rm -d {} + 2>/dev/null || true; done
	fi
	return "${status:-0}"
}

[ $# -ge 2 ] || usage
cmd=$1
shift
case "$cmd" in
ensure) ensure "$@" ;;
run) run "$@" ;;
*) usage ;;
esac
