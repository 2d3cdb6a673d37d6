#!/usr/bin/env bash
# Provision the guest kernels listed in scripts/kernel-series (Debian's 6.1 and
# 6.12 series from bookworm, 7.2 from sid), each as the image packages plus the
# exactly matching headers, extracted into a cache (no kernel is installed into
# the host's /boot).
#
#   scripts/kernels.sh [series...]     default: the default series of scripts/kernel-series
#
# Layout, per series, under ${MIRRORLAB_CACHE:-/var/cache/mirrorlab}/kernels/<series>/:
#   vmlinuz        the kernel image (bzImage)
#   vmlinux        the same kernel uncompressed (ELF with a PVH entry): QEMU boots it
#                  without decompressing under emulation (6.1's xz payload costs seconds)
#   modules/       dpkg -x of linux-image-<release>-unsigned, or of sid's split
#                  linux-binary-, linux-modules- and linux-base-<release>
#                  (lib/modules/<release>/..., depmod run)
#   headers/       dpkg -x of linux-headers-<release>, its -common and linux-kbuild-<x>
#   kdir           absolute Kbuild directory: make -C "$(cat kdir)" M=<dir> modules
#   release        the kernel release string (uname -r in the guest)
#   manifest.json  exact package names and versions
#   buildroot      only for a suite other than the host's: "<suite> <compiler package>",
#                  the build root (scripts/buildroot.sh) its modules are built in
#   .complete      written last; a directory without it is incomplete and rebuilt
#
# A series from the host's own suite (bookworm) is resolved by the host's apt.
# Any other suite (sid) gets an apt configuration of its own under
# <cache>/apt/<suite>/ (its sources list, lists and package cache; the host's
# sources are never touched), and its modules are built in a build root of that
# suite, since its compiler and Kbuild tools do not run on the host. sid
# replaces its kernel with each upload: its cache directory is named after the
# series apt resolves (kernels/7.2/), its aliases are symlinks to it
# (kernels/sid -> 7.2), and its lists are refreshed only when they are missing
# or a download fails, so a completed series stays put until its packages
# have left the archive.
#
# Downloaded .deb files are kept in ${MIRRORLAB_DEBS:-<cache>/debs}; files already
# in /var/cache/apt/archives or /var/cache/mirrorlab/debs are reused.
# Idempotent: a series whose .complete matches the resolved versions is skipped.
set -euo pipefail
source "$(dirname "$0")/kernel-series.sh"
source "$(dirname "$0")/debian-apt.sh"
scripts=$(cd "$(dirname "$0")" && pwd)

root=$cache/kernels

log() { printf 'kernels: %s\n' "$*" >&2; }
die() { printf 'kernels: error: %s\n' "$*" >&2; exit 1; }

# Every name is checked (aliases resolved) before anything is downloaded.
series_list=()
for name in "$@"; do
	series_list+=("$(series_of "$name")") || die "unknown series '$name' (known: $(known_series))"
done
[ ${#series_list[@]} -gt 0 ] || mapfile -t series_list < <(default_series)

mkdir -p "$root" "$debs"
exec 9>"$root/.lock"
flock 9

# The first linux-image-* (or given prefix) dependency of a package.
dep_of() { # pkg regex
	apt-cache "${aptopts[@]}" depends "$1" 2>/dev/null | awk -v re="$2" '$1 == "Depends:" && $2 ~ re { print $2; exit }'
}

# The uncompressed ELF inside a bzImage (xz, zstd or gzip payload), as the
# kernel's scripts/extract-vmlinux finds it.
extract_vmlinux() { # dir
	local img=$1/vmlinuz out=$1/vmlinux.tmp pos magic dec
	[ -s "$1/vmlinux" ] && return 0
	for magic in xz zstd gzip; do
		case $magic in
		xz) pat=$(printf '\3757zXZ'); dec='xz -dc' ;;
		zstd) pat=$(printf '\050\265\057\375'); dec='zstd -dc' ;;
		gzip) pat=$(printf '\037\213\010'); dec='gzip -dc' ;;
		esac
		for pos in $(LC_ALL=C grep -abo "$pat" "$img" 2>/dev/null | cut -d: -f1); do
			tail -c+$((pos + 1)) "$img" | $dec >"$out" 2>/dev/null || true
			if [ "$(head -c4 "$out" | od -An -tx1 | tr -d ' ')" = 7f454c46 ]; then
				mv "$out" "$1/vmlinux"
				return 0
			fi
		done
	done
	rm -f "$out"
	log "$(basename "$1"): no ELF payload found in vmlinuz; guests will boot the bzImage"
}

# Resolve what apt offers for a row now. Sets release, pkgs (image packages
# first, nimage of them, then the three headers packages), vers and want.
resolve() { # series suite meta
	local series=$1 suite=$2 meta=$3 dep hdr hdeps common kbuild policy p v i
	dep=$(dep_of "$meta" '^linux-image-')
	if [ -z "$dep" ] && apt_update "$suite"; then
		dep=$(dep_of "$meta" '^linux-image-')
	fi
	[ -n "$dep" ] || return 1
	release=${dep#linux-image-}
	# sid splits the image: linux-image-<r> is a meta package over the kernel
	# (linux-binary-), its modules (linux-modules-) and config and
	# System.map (linux-base-); bookworm has one -unsigned package.
	if [ -n "$(dep_of "$dep" "^linux-binary-")" ]; then
		pkgs=("linux-binary-$release" "linux-modules-$release" "linux-base-$release")
	else
		pkgs=("linux-image-$release-unsigned")
	fi
	nimage=${#pkgs[@]}
	hdr=linux-headers-$release
	hdeps=$(apt-cache "${aptopts[@]}" depends "$hdr" 2>/dev/null | awk '$1 == "Depends:" { print $2 }')
	common=$(grep -m1 '^linux-headers-.*-common' <<<"$hdeps" || true)
	kbuild=$(grep -m1 '^linux-kbuild-' <<<"$hdeps" || true)
	[ -n "$common" ] && [ -n "$kbuild" ] || die "$series: cannot resolve the dependencies of $hdr"
	pkgs+=("$hdr" "$common" "$kbuild")

	mapfile -t vers < <(candidate_versions "${pkgs[@]}")
	for i in "${!pkgs[@]}"; do
		[ "${vers[$i]}" != "(none)" ] || die "$series: no candidate version for ${pkgs[$i]}"
	done
	want=""
	for i in "${!pkgs[@]}"; do want+="${pkgs[$i]}=${vers[$i]} "; done
}

# Point the row's aliases at its cache directory (relative links: the cache
# may be moved or bind-mounted elsewhere).
link_aliases() { # row-series dir
	local a
	for a in $(series_column "$1" 5 | tr ',' ' '); do
		[ "$a" = - ] || ln -sfn "$(basename "$2")" "$root/$a"
	done
}

provision() {
	local row=$1 series=$1 meta suite release pkgs=() vers=() nimage want dir tmp i
	meta=$(series_column "$row" 3)
	suite=$(series_column "$row" 2)
	use_suite "$suite"
	dir=$(series_cache_dir "$root" "$row")

	# Nothing apt knows can have changed since this series was completed.
	if [ -f "$dir/.complete" ] && [ -z "$(find "$lists" -maxdepth 1 -type f -newer "$dir/.complete" -print -quit 2>/dev/null)" ]; then
		extract_vmlinux "$dir"
		link_aliases "$row" "$dir"
		log "$(basename "$dir"): $(cat "$dir/release") up to date"
		return 0
	fi

	if ! resolve "$row" "$suite" "$meta"; then
		if [ -f "$dir/.complete" ]; then
			log "$row: apt cannot resolve $meta; keeping the cached $(cat "$dir/release")"
			return 0
		fi
		die "$row: apt cannot resolve $meta (are $suite and its security updates in apt's sources?)"
	fi
	# A suite that moves on (sid) names the series by the kernel it has now.
	if [ "$suite" != "$host_suite" ]; then
		series=$(sed -E 's/^([0-9]+\.[0-9]+).*/\1/' <<<"$release")
		[ "$series" = "$row" ] || log "$row: $suite now has $release; provisioning it as series $series"
		dir=$root/$series
	fi

	if [ -f "$dir/.complete" ] && [ "$(cat "$dir/.complete")" = "$want" ]; then
		extract_vmlinux "$dir"
		link_aliases "$row" "$dir"
		log "$series: $release up to date"
		touch "$dir/.complete"
		return 0
	fi

	log "$series: $release (${want% })"
	local files=() f
	for i in "${!pkgs[@]}"; do
		if ! f=$(fetch_deb "${pkgs[$i]}" "${vers[$i]}"); then
			# Lists that predate an upload name packages the archive has
			# dropped: refresh them once and start this series again.
			apt_update "$suite" && { provision "$row"; return; }
			die "apt-get download ${pkgs[$i]}=${vers[$i]} failed"
		fi
		files+=("$f")
	done

	tmp=$root/.$series.new
	rm -rf "$tmp"
	mkdir -p "$tmp/modules" "$tmp/headers"
	for i in "${!pkgs[@]}"; do
		log "$series: extracting ${pkgs[$i]}"
		if [ "$i" -lt "$nimage" ]; then
			dpkg -x "${files[$i]}" "$tmp/modules"
		else
			dpkg -x "${files[$i]}" "$tmp/headers"
		fi
	done
	# sid ships the modules under usr/lib/modules/<r>/ (merged /usr), with
	# vmlinuz beside them; depmod -b and the initramfs builder read
	# lib/modules/<r>/, as on bookworm.
	[ -d "$tmp/modules/usr/lib/modules" ] && [ ! -e "$tmp/modules/lib" ] && ln -s usr/lib "$tmp/modules/lib"
	for f in "$tmp/modules/boot/vmlinuz-$release" "$tmp/modules/lib/modules/$release/vmlinuz" ""; do
		[ -f "$f" ] && break
	done
	[ -n "$f" ] || die "$series: no vmlinuz in ${pkgs[*]:0:$nimage}"
	cp "$f" "$tmp/vmlinuz"
	extract_vmlinux "$tmp"
	echo "$release" >"$tmp/release"

	# The image package leaves modules.dep to its postinst; generate it here.
	depmod -b "$tmp/modules" "$release"

	# Absolute symlinks point into the host's / (for example
	# lib/modules/<r>/build -> /usr/src/linux-headers-<r>); re-aim them into
	# this tree so nothing depends on host-installed packages.
	local l t
	while IFS= read -r -d '' l; do
		t=$(readlink "$l")
		case "$t" in
		/usr/src/*) ln -sfn "$dir/headers$t" "$l" ;;
		/*) [ -e "$tmp/headers$t" ] && ln -sfn "$dir/headers$t" "$l" ;;
		esac
	done < <(find "$tmp/modules" "$tmp/headers" -type l -print0)

	# The arch-specific Makefile includes the -common one by absolute path
	# (and sid's sets KBUILD_OUTPUT to its own /usr/src path).
	local mk
	for mk in "$tmp"/headers/usr/src/*/Makefile; do
		sed -i -E "s@^(include |KBUILD_OUTPUT=)/usr/src/@\1$dir/headers/usr/src/@" "$mk"
	done
	echo "$dir/headers/usr/src/linux-headers-$release" >"$tmp/kdir"

	# Another suite's kernel needs its own compiler (the one its .config
	# names, e.g. x86_64-linux-gnu-gcc-16) in a build root of that suite.
	local cc
	if [ "$suite" != "$host_suite" ]; then
		cc=$(sed -n 's/^CONFIG_CC_VERSION_TEXT="\([^ ]*\) .*/\1/p' "$tmp/headers/usr/src/linux-headers-$release/.config")
		[ -n "$cc" ] || die "$series: no CONFIG_CC_VERSION_TEXT in the headers' .config"
		echo "$suite ${cc##*-linux-gnu-}" >"$tmp/buildroot"
	fi

	{
		printf '{\n  "series": "%s",\n  "release": "%s",\n  "suite": "%s",\n  "meta": "%s",\n  "packages": [\n' \
			"$series" "$release" "$suite" "$meta"
		for i in "${!pkgs[@]}"; do
			[ "$i" -gt 0 ] && printf ',\n'
			printf '    { "name": "%s", "version": "%s", "sha256": "%s" }' \
				"${pkgs[$i]}" "${vers[$i]}" "$(sha256sum "${files[$i]}" | cut -d' ' -f1)"
		done
		printf '\n  ],\n  "created": "%s"\n}\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
	} >"$tmp/manifest.json"

	rm -rf "$dir.old"
	[ -e "$dir" ] && mv "$dir" "$dir.old"
	mv "$tmp" "$dir"
	rm -rf "$dir.old"

	# Prove the Kbuild directory works before declaring the series complete:
	# build a trivial module and compare its vermagic with the release.
	local probe vm
	probe=$(mktemp -d)
	printf '#include <linux/module.h>\nstatic int __init p_init(void) { return 0; }\nmodule_init(p_init);\nMODULE_LICENSE("GPL");\nMODULE_DESCRIPTION("Kbuild probe");\n' >"$probe/kprobe_build.c"
	echo 'obj-m := kprobe_build.o' >"$probe/Kbuild"
	log "$series: test build of a trivial module"
	"$scripts/kbuild.sh" "$dir" "$probe" -s >&2 || die "$series: test module build failed"
	vm=$(modinfo -F vermagic "$probe/kprobe_build.ko")
	rm -rf "$probe"
	[ "${vm%% *}" = "$release" ] || die "$series: vermagic '$vm' does not match $release"
	echo "$want" >"$dir/.complete"
	link_aliases "$row" "$dir"
	log "$series: ready in $dir"
}

for s in "${series_list[@]}"; do
	provision "$s"
done
