#!/usr/bin/env bash
# Build every out-of-tree module under kernel-patches/*/ (a directory with a
# Kbuild file) against each guest kernel's headers, warnings as errors, and
# check that each module's vermagic matches the kernel release.
#
#   scripts/build-modules.sh [series...]      default: the default series of scripts/kernel-series
#
# Output: build/modules/<series>/<name>.ko (and build/modules/<series>/release).
# Sources are copied to build/modules/.work/<series>/<dir> so that the two
# series never share objects and kernel-patches/ stays clean; make rebuilds
# only what changed.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/kernel-series.sh

cache=${MIRRORLAB_CACHE:-/var/cache/mirrorlab}
jobs=${MIRRORLAB_MAKE_JOBS:-2}

log() { printf 'build-modules: %s\n' "$*" >&2; }
die() { printf 'build-modules: error: %s\n' "$*" >&2; exit 1; }

series_list=()
for name in "$@"; do
	series_list+=("$(series_of "$name")") || die "unknown series '$name' (known: $(known_series))"
done
[ ${#series_list[@]} -gt 0 ] || mapfile -t series_list < <(default_series)

dirs=()
for k in kernel-patches/*/Kbuild; do
	[ -f "$k" ] && dirs+=("$(dirname "$k")")
done
[ ${#dirs[@]} -gt 0 ] || { log "no kernel-patches/*/Kbuild found"; exit 0; }

for series in "${series_list[@]}"; do
	kc=$cache/kernels/$series
	[ -f "$kc/.complete" ] || die "kernel cache for $series missing ($kc); run scripts/kernels.sh $series"
	kdir=$(cat "$kc/kdir")
	release=$(cat "$kc/release")
	out=build/modules/$series
	mkdir -p "$out"
	for d in "${dirs[@]}"; do
		name=$(basename "$d")
		work=build/modules/.work/$series/$name
		mkdir -p "$work"
		cp -a -u "$d/." "$work/"
		log "$series: $name"
		blog=$(mktemp)
		if ! make -s -j"$jobs" -C "$kdir" M="$PWD/$work" KCFLAGS=-Werror modules >"$blog" 2>&1; then
			cat "$blog" >&2
			rm -f "$blog"
			die "$series: $name failed to build"
		fi
		# -Werror covers the compiler; modpost and objtool print warnings
		# of their own (undefined symbols, section mismatches).
		if grep -i 'warning' "$blog" >&2; then
			rm -f "$blog"
			die "$series: $name built with warnings"
		fi
		rm -f "$blog"
		for ko in "$work"/*.ko; do
			[ -f "$ko" ] || die "$series: $name produced no .ko"
			vm=$(modinfo -F vermagic "$ko")
			[ "${vm%% *}" = "$release" ] || die "$series: $(basename "$ko") vermagic '$vm' != $release"
			cp -p "$ko" "$out/"
		done
	done
	echo "$release" >"$out/release"
	log "$series: $(cd "$out" && ls ./*.ko | tr '\n' ' ')-> $out"
done
