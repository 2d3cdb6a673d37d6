#!/usr/bin/env bash
# Build an out-of-tree module directory against one cached guest kernel:
# make -C <kdir> M=<dir> modules, on the host, or, for a kernel whose cache
# names a build root (another suite's compiler and Kbuild tools), inside it.
#
#   scripts/kbuild.sh [--bind DIR]... KERNEL_CACHE_DIR MODULE_DIR [MAKE_ARG...]
#
# KERNEL_CACHE_DIR is <cache>/kernels/<series> as scripts/kernels.sh writes it.
# --bind makes another directory the build reads visible in the build root
# (our Kbuild files find the shared uapi headers in kernel-patches/include).
set -euo pipefail

binds=()
while [ "${1:-}" = --bind ]; do
	binds+=("$2")
	shift 2
done
[ $# -ge 2 ] || { echo "usage: scripts/kbuild.sh [--bind DIR]... KERNEL_CACHE_DIR MODULE_DIR [MAKE_ARG...]" >&2; exit 2; }
kc=$1 dir=$2
shift 2
kdir=$(cat "$kc/kdir")
if [ ! -f "$kc/buildroot" ]; then
	exec make -C "$kdir" M="$dir" "$@" modules
fi
scripts=$(cd "$(dirname "$0")" && pwd)
read -r suite packages <"$kc/buildroot"
# shellcheck disable=SC2086 # the package list is words
"$scripts/buildroot.sh" ensure "$suite" $packages >/dev/null
# The headers' Makefiles name their own absolute paths under the kernel's
# cache directory: the bind mounts keep those paths, and the module
# directory's, the same inside the root.
exec "$scripts/buildroot.sh" run "$suite" "$dir" "$kc/headers" "${binds[@]}" -- make -C "$kdir" M="$dir" "$@" modules
