#!/usr/bin/env bash
# Build every out-of-tree module under kernel-patches/*/ (a directory with a
# Kbuild file) against each guest kernel's headers, warnings as errors, and
# check that each module's vermagic matches the kernel release.
#
#   scripts/build-modules.sh [series...]      default: the default series of scripts/kernel-series
#
# Output: build/modules/<series>/<name>.ko (and build/modules/<series>/release);
# a series' aliases are symlinks to it (build/modules/sid -> 7.2).
# Sources are copied to build/modules/.work/<series>/<dir> so that no two
# series share objects and kernel-patches/ stays clean; make rebuilds only
# what changed. A kernel from another suite than the host's (sid) is built
# in that suite's build root (scripts/kbuild.sh, scripts/buildroot.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/kernel-series.sh

cache=${MIRRORLAB_CACHE:-/var/cache/mirrorlab}
jobs=${MIRRORLAB_MAKE_JOBS:-2}

# One build at a time: test files running in parallel each make sure the
# modules are built; the second waits, then finds make has nothing to do.
mkdir -p build/modules
exec 9>build/modules/.lock
flock 9

log() { printf 'build-modules: %s\n' "$*" >&2; }
die() { printf 'build-modules: error: %s\n' "$*" >&2; exit 1; }

rows=()
for name in "$@"; do
	rows+=("$(kernel_of "$name")") || die "unknown kernel '$name' (known: $(known_series))"
done
[ ${#rows[@]} -gt 0 ] || mapfile -t rows < <(default_series)

dirs=()
for k in kernel-patches/*/Kbuild; do
	[ -f "$k" ] && dirs+=("$(dirname "$k")")
done
[ ${#dirs[@]} -gt 0 ] || { log "no kernel-patches/*/Kbuild found"; exit 0; }

for row in "${rows[@]}"; do
	kc=$(series_cache_dir "$cache/kernels" "$row")
	[ -f "$kc/.complete" ] || die "kernel cache for $row missing ($kc); run scripts/kernels.sh $row"
	# sid's series is the one kernels.sh resolved (7.2, later 7.3).
	series=$(basename "$kc")
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
		# Every clone of a commit builds the same .ko bytes, so the guest
		# states keyed by the initramfs are shared: -ffile-prefix-map names
		# sources relative to the checkout, and pahole-serial.sh encodes
		# the BTF in one thread (in order).
		if ! scripts/kbuild.sh --bind "$PWD/kernel-patches" --bind "$PWD/scripts" "$kc" "$PWD/$work" -s -j"$jobs" \
			KCFLAGS="-Werror -ffile-prefix-map=$PWD/=" PAHOLE="$PWD/scripts/pahole-serial.sh" >"$blog" 2>&1; then
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
	for a in $(series_column "$row" 5 | tr ',' ' '); do
		[ "$a" = - ] || ln -sfn "$series" "build/modules/$a"
	done
	log "$series: $(cd "$out" && ls ./*.ko | tr '\n' ' ')-> $out"
done
