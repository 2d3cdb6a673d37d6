#!/usr/bin/env bash
# Provision the guest kernels: Debian's 6.1 (bookworm) and 6.12 series, each as
# the -unsigned image package plus the exactly matching headers, extracted into
# a cache (no kernel is installed into the host's /boot).
#
#   scripts/kernels.sh [series...]     default: 6.1 6.12
#
# Layout, per series, under ${MIRRORLAB_CACHE:-/var/cache/mirrorlab}/kernels/<series>/:
#   vmlinuz        the kernel image
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

cache=${MIRRORLAB_CACHE:-/var/cache/mirrorlab}
root=$cache/kernels
debs=${MIRRORLAB_DEBS:-$cache/debs}
series_list=("$@")
[ ${#series_list[@]} -gt 0 ] || series_list=(6.1 6.12)

log() { printf 'kernels: %s\n' "$*" >&2; }
die() { printf 'kernels: error: %s\n' "$*" >&2; exit 1; }

mkdir -p "$root" "$debs"
exec 9>"$root/.lock"
flock 9

meta_for() {
	case "$1" in
	6.1) echo linux-image-amd64 ;;
	6.12) echo linux-image-6.12-amd64 ;;
	*) die "unknown series '$1' (known: 6.1 6.12)" ;;
	esac
}

# The first linux-image-* (or given prefix) dependency of a package.
dep_of() { # pkg regex
	apt-cache depends "$1" 2>/dev/null | awk -v re="$2" '$1 == "Depends:" && $2 ~ re { print $2; exit }'
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
	local series=$1 meta dep release image hdr common kbuild dir tmp
	meta=$(meta_for "$series")
	dir=$root/$series

	# Nothing apt knows can have changed since this series was completed.
	if [ -f "$dir/.complete" ] && [ -z "$(find /var/lib/apt/lists -maxdepth 1 -type f -newer "$dir/.complete" -print -quit 2>/dev/null)" ]; then
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
		die "$series: apt cannot resolve $meta (is bookworm-security in sources.list?)"
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
