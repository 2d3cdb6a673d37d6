#!/usr/bin/env bash
# Provision the guest kernels listed in scripts/kernel-series (Debian's 6.1 and
# 6.12 series), each as the -unsigned image package plus the exactly matching
# headers, extracted into a cache (no kernel is installed into the host's /boot).
#
#   scripts/kernels.sh [series...]     default: the default series of scripts/kernel-series
#
# Layout, per series, under ${MIRRORLAB_CACHE:-/var/cache/mirrorlab}/kernels/<series>/:
#   vmlinuz        the kernel image (bzImage)
#   vmlinux        the same kernel uncompressed (ELF with a PVH entry): QEMU boots it
#                  without decompressing under emulation (6.1's xz payload costs seconds)
#   modules/       dpkg -x of linux-image-<release>-unsigned (lib/modules/<release>/..., depmod run)
#   headers/       dpkg -x of linux-headers-<release>, its -common and linux-kbuild-<x>
#   kdir           absolute Kbuild directory: make -C "$(cat kdir)" M=<dir> modules
#   release        the kernel release string (uname -r in the guest)
#   manifest.json  exact package names and versions
#   .complete      written last; a directory without it is incomplete and rebuilt
#
# Downloaded .deb files are kept in ${MIRRORLAB_DEBS:-<cache>/debs}; files already
# in /var/cache/apt/archives or /var/cache/mirrorlab/debs are reused.
# Idempotent: a series whose .complete matches the resolved versions is skipped.
set -euo pipefail
source "$(dirname "$0")/kernel-series.sh"

cache=${MIRRORLAB_CACHE:-/var/cache/mirrorlab}
root=$cache/kernels
debs=${MIRRORLAB_DEBS:-$cache/debs}

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
	apt-cache depends "$1" 2>/dev/null | awk -v re="$2" '$1 == "Depends:" && $2 ~ re { print $2; exit }'
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

updated=0
apt_update() {
	[ "$updated" = 1 ] && return 0
	log "apt-get update"
	apt-get update -q >&2 || log "apt-get update failed (continuing with what apt knows)"
	updated=1
}

# Find or download pkg=version; prints the .deb path.
fetch_deb() { # name version
	local name=$1 ver=$2 f enc
	enc=${ver//:/%3a}
	for d in "$debs" /var/cache/mirrorlab/debs /var/cache/apt/archives; do
		for f in "$d/${name}_${ver}_"*.deb "$d/${name}_${enc}_"*.deb; do
			[ -f "$f" ] && { echo "$f"; return 0; }
		done
	done
	log "downloading $name $ver"
	(cd "$debs" && apt-get -o APT::Sandbox::User=root download "$name=$ver" >&2) || die "apt-get download $name=$ver failed"
	for f in "$debs/${name}_${ver}_"*.deb "$debs/${name}_${enc}_"*.deb; do
		[ -f "$f" ] && { echo "$f"; return 0; }
	done
	die "downloaded $name but cannot find its .deb in $debs"
}

provision() {
	local series=$1 meta suite dep release image hdr common kbuild dir tmp
	meta=$(series_column "$series" 3)
	suite=$(series_column "$series" 2)
	dir=$root/$series

	# Nothing apt knows can have changed since this series was completed.
	if [ -f "$dir/.complete" ] && [ -z "$(find /var/lib/apt/lists -maxdepth 1 -type f -newer "$dir/.complete" -print -quit 2>/dev/null)" ]; then
		extract_vmlinux "$dir"
		log "$series: $(cat "$dir/release") up to date"
		return 0
	fi

	dep=$(dep_of "$meta" '^linux-image-')
	if [ -z "$dep" ]; then
		apt_update
		dep=$(dep_of "$meta" '^linux-image-')
	fi
	if [ -z "$dep" ]; then
		if [ -f "$dir/.complete" ]; then
			log "$series: apt cannot resolve $meta; keeping the cached $(cat "$dir/release")"
			return 0
		fi
		die "$series: apt cannot resolve $meta (are $suite and its security updates in sources.list?)"
	fi
	release=${dep#linux-image-}
	image=linux-image-$release-unsigned
	hdr=linux-headers-$release
	local hdeps
	hdeps=$(apt-cache depends "$hdr" 2>/dev/null | awk '$1 == "Depends:" { print $2 }')
	common=$(grep -m1 '^linux-headers-.*-common' <<<"$hdeps" || true)
	kbuild=$(grep -m1 '^linux-kbuild-' <<<"$hdeps" || true)
	[ -n "$common" ] && [ -n "$kbuild" ] || die "$series: cannot resolve the dependencies of $hdr"

	local pkgs=("$image" "$hdr" "$common" "$kbuild") vers=() p v
	local policy
	policy=$(apt-cache policy "${pkgs[@]}" 2>/dev/null)
	for p in "${pkgs[@]}"; do
		v=$(awk -v p="$p:" '$0 == p { f = 1; next } /^[^ ]/ { f = 0 } f && $1 == "Candidate:" { print $2; exit }' <<<"$policy")
		[ -n "$v" ] && [ "$v" != "(none)" ] || die "$series: no candidate version for $p"
		vers+=("$v")
	done
	local want="" i
	for i in "${!pkgs[@]}"; do want+="${pkgs[$i]}=${vers[$i]} "; done

	if [ -f "$dir/.complete" ] && [ "$(cat "$dir/.complete")" = "$want" ]; then
		extract_vmlinux "$dir"
		log "$series: $release up to date"
		touch "$dir/.complete"
		return 0
	fi

	log "$series: $release (${want% })"
	local files=()
	for i in "${!pkgs[@]}"; do files+=("$(fetch_deb "${pkgs[$i]}" "${vers[$i]}")"); done

	tmp=$root/.$series.new
	rm -rf "$tmp"
	mkdir -p "$tmp/modules" "$tmp/headers"
	log "$series: extracting ${pkgs[0]}"
	dpkg -x "${files[0]}" "$tmp/modules"
	for i in 1 2 3; do
		log "$series: extracting ${pkgs[$i]}"
		dpkg -x "${files[$i]}" "$tmp/headers"
	done
	cp "$tmp/modules/boot/vmlinuz-$release" "$tmp/vmlinuz"
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

	# The arch-specific Makefile includes the -common one by absolute path.
	local mk
	for mk in "$tmp"/headers/usr/src/*/Makefile; do
		sed -i "s|^include /usr/src/|include $dir/headers/usr/src/|" "$mk"
	done
	echo "$dir/headers/usr/src/linux-headers-$release" >"$tmp/kdir"

	{
		printf '{\n  "series": "%s",\n  "release": "%s",\n  "meta": "%s",\n  "packages": [\n' "$series" "$release" "$meta"
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
	printf '#include <linux/module.h>\nstatic int __init p_init(void) { return 0; }\nmodule_init(p_init);\nMODULE_LICENSE("GPL");\n' >"$probe/kprobe_build.c"
	echo 'obj-m := kprobe_build.o' >"$probe/Kbuild"
	log "$series: test build of a trivial module"
	make -s -C "$(cat "$dir/kdir")" M="$probe" modules >&2 || die "$series: test module build failed"
	vm=$(modinfo -F vermagic "$probe/kprobe_build.ko")
	rm -rf "$probe"
	[ "${vm%% *}" = "$release" ] || die "$series: vermagic '$vm' does not match $release"
	echo "$want" >"$dir/.complete"
	log "$series: ready in $dir"
}

for s in "${series_list[@]}"; do
	provision "$s"
done
