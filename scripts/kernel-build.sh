#!/usr/bin/env bash
# Build a guest kernel of our own from a series' Debian linux-source package:
# x86_64 defconfig + kernel/configs/kvm_guest.config + our fragments, with a
# patch series applied, in the build root of the series' suite (the compiler
# Debian built that series with).
#
#   scripts/kernel-build.sh [--check] SERIES FLAVOUR [PATCHES]
#
# SERIES   a series of scripts/kernel-series (6.1, 6.12, 7.2 or an alias)
# FLAVOUR  test or debug: kernel-patches/configs/guest.config plus
#          kernel-patches/configs/FLAVOUR.config
# PATCHES  a directory kernel-patches/series/PATCHES/ with a `series` file
#          naming its patches in order (quilt's format; # starts a comment)
# --check  validate everything and print the cache key, build nothing
#
# The result is a kernel cache directory like the ones scripts/kernels.sh
# writes, <cache>/kernels/<name>/, named SERIES-FLAVOUR or
# SERIES-FLAVOUR+PATCHES (7.2-test, 7.2-debug, 7.2-test+NAME): vmlinuz,
# vmlinux (not for debug, below), release, modules/lib/modules/<release>/ (depmod run), headers/
# (the source tree built in place, objects kept: out-of-tree modules build
# against it, kdir), kdir, manifest.json, buildroot and .complete. Its path is
# printed on stdout; progress goes to stderr.
#
# A patched kernel (PATCHES) starts from a copy of its flavour's complete
# build when there is one (with the same fragments and compiler): make
# rebuilds what the patches touch and what depends on it, minutes instead
# of half an hour. The tree is built in place (no O=) so that its commands
# name relative paths and a copy builds incrementally.
#
# The cache key is a sha256 over the source package and version, the config
# fragments, the build-support patches, the series' patches, the compiler's
# version and this recipe's number: a call with the same inputs returns at
# once, and any change rebuilds. The build runs in <cache>/kernels/.<name>.new
# and replaces <name> only when complete, so a failed or interrupted build
# leaves the cache as it was. Everything that can be checked before the long
# part is checked first: the names, the patches (each must apply cleanly;
# the failing hunk is named), the compiler, and every option the fragments
# ask for (one that did not stick is named).
#
# Exit 2 for usage errors, 1 for a failure (with the reason).
#
# Environment: MIRRORLAB_CACHE (the cache), MIRRORLAB_MAKE_JOBS (make -j,
# default the CPU count); for tests, MIRRORLAB_KERNEL_CONFIGS (fragments),
# MIRRORLAB_KERNEL_SERIES (patch series) and MIRRORLAB_KERNEL_BUILDS (where
# built kernels go) replace kernel-patches/configs, kernel-patches/series
# and <cache>/kernels.
set -euo pipefail
source "$(dirname "$0")/kernel-series.sh"
source "$(dirname "$0")/debian-apt.sh"
scripts=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$scripts")
# 2: the build-support patches are applied to every series that has what
# they touch.
recipe=2
jobs=${MIRRORLAB_MAKE_JOBS:-$(nproc)}

log() { printf 'kernel-build: %s\n' "$*" >&2; }
die() { printf 'kernel-build: error: %s\n' "$*" >&2; exit 1; }
usage_error() { printf 'kernel-build: %s\nusage: scripts/kernel-build.sh [--check] SERIES test|debug [PATCHES]\n' "$*" >&2; exit 2; }

check_only=0
if [ "${1:-}" = --check ]; then
	check_only=1
	shift
fi
[ $# -ge 2 ] && [ $# -le 3 ] || usage_error "expected SERIES FLAVOUR [PATCHES]"
row=$(series_of "$1") || usage_error "unknown series '$1' (known: $(known_series))"
flavour=$2
case "$flavour" in
test | debug) ;;
*) usage_error "unknown flavour '$flavour' (flavours: test, debug)" ;;
esac
patches_name=${3:-}
configs=${MIRRORLAB_KERNEL_CONFIGS:-$root/kernel-patches/configs}
series_root=${MIRRORLAB_KERNEL_SERIES:-$root/kernel-patches/series}
builds=${MIRRORLAB_KERNEL_BUILDS:-$cache/kernels}
fragments=("$configs/guest.config" "$configs/$flavour.config")
for f in "${fragments[@]}"; do [ -f "$f" ] || die "missing config fragment $f"; done

# The series' patches, in order; each must exist.
patch_files=()
if [ -n "$patches_name" ]; then
	[[ "$patches_name" =~ ^[A-Za-z0-9][A-Za-z0-9._-]*$ ]] || usage_error "bad patch series name '$patches_name' (letters, digits, . _ -)"
	sdir=$series_root/$patches_name
	[ -f "$sdir/series" ] || usage_error "unknown patch series '$patches_name' (no $sdir/series; known: $(cd "$series_root" 2>/dev/null && ls -d -- */ 2>/dev/null | tr -d / | tr '\n' ' '))"
	while read -r p _; do
		[ -n "$p" ] || continue
		[ -f "$sdir/$p" ] || die "$sdir/series names $p, which is not in $sdir"
		patch_files+=("$sdir/$p")
	done < <(sed 's/#.*//' "$sdir/series")
	[ ${#patch_files[@]} -gt 0 ] || die "$sdir/series names no patch"
fi
mapfile -t support_patches < <(find "$root/kernel-patches/build-support" -maxdepth 1 -name '*.patch' | sort)

base=$(series_cache_dir "$cache/kernels" "$row")
[ -f "$base/.complete" ] || die "no Debian kernel cache for $row ($base); scripts/kernels.sh $row makes it"
series=$(basename "$base")
name=$series-$flavour${patches_name:++$patches_name}
suite=$(series_column "$row" 2)
out=$builds/$name
work=$builds/.$name.new

# The compiler: the one Debian built the series with, in that suite's build
# root (sid), or the host's (bookworm).
broot="" cc=""
if [ -f "$base/buildroot" ]; then
	read -r broot cc <"$base/buildroot"
	mkdir -p "$cache/kernels"
	"$scripts/buildroot.sh" ensure "$broot" "$cc" >/dev/null
	in_root() { "$scripts/buildroot.sh" run "$broot" "$@"; }
	compiler=$(in_root "$cache/kernels" -- "$cc" --version 2>/dev/null | head -n1) || true
else
	cc=$(sed -n 's/^CONFIG_CC_VERSION_TEXT="\([^ ]*\) .*/\1/p' "$(cat "$base/kdir")/.config")
	cc=${cc##*-linux-gnu-}
	in_root() { # dir... -- command...
		while [ "$1" != -- ]; do shift; done
		shift
		"$@"
	}
	compiler=$(command -v "$cc" >/dev/null && "$cc" --version | head -n1) || true
fi
[ -n "$compiler" ] || die "the compiler $cc is missing${broot:+ from the $broot build root} (scripts/buildroot.sh ensure $broot $cc installs it)"
for t in bison flex bc; do
	in_root "$cache/kernels" -- sh -c "command -v $t" >/dev/null || die "$t is missing${broot:+ from the $broot build root} (scripts/setup.sh installs it)"
done

# The source package of the series' own version (the image package's).
pkg=linux-source-$series
ver=$(sed -n 's/.*"version": "\([^"]*\)".*/\1/p' "$base/manifest.json" | head -n1)
[ -n "$ver" ] || die "no package version in $base/manifest.json"

inputs() { # file...
	echo "$pkg=$ver | $compiler | recipe $recipe"
	local f
	for f in "$@"; do
		printf '%s ' "$(basename "$f")"
		sha256sum "$f" | cut -d' ' -f1
	done
}
h=$(inputs "${fragments[@]}" "${support_patches[@]}" "${patch_files[@]}")
key=$(sha256sum <<<"$h" | cut -d' ' -f1)
# The flavour's own build, which a patched build starts from when complete.
from=""
if [ ${#patch_files[@]} -gt 0 ]; then
	from=$builds/$series-$flavour
	base_key=$(inputs "${fragments[@]}" "${support_patches[@]}" | sha256sum | cut -d' ' -f1)
	[ -f "$from/.complete" ] && [ "$(cat "$from/.complete")" = "$base_key" ] || from=""
fi
if [ -f "$out/.complete" ] && [ "$(cat "$out/.complete")" = "$key" ]; then
	log "$name: cached ($out)"
	echo "$out"
	exit 0
fi
if [ $check_only = 1 ]; then
	log "$name: not built; the key would be $key"
	echo "$key"
	exit 0
fi

mkdir -p "$builds"
exec 9>"$builds/.$name.lock"
flock -n 9 || die "another build of $name is running (lock $builds/.$name.lock)"
start=$(date +%s)
elapsed() { local s=$(($(date +%s) - start)); printf '%dm%02ds' $((s / 60)) $((s % 60)); }
src=$work/headers
# A configured tree of the same key (a build interrupted, or failed after
# the compile) is resumed: make picks up where it stopped. Anything else
# in the work directory is from other inputs and goes.
resume=0
if [ -f "$work/.configured" ] && [ "$(cat "$work/.configured")" = "$key" ]; then
	resume=1
	log "$name: resuming the configured tree in $work"
else
	rm -rf "$work"
fi
# Until the tree is configured a failure removes the work directory; from
# then on it is kept for the next run to resume (the cache entry itself is
# only ever replaced by a complete build).
trap '[ -f "$work/.configured" ] && log "$name: kept $work for the next run to resume" || rm -rf "$work"' EXIT

use_suite "$suite"
src_deb=$(fetch_deb "$pkg" "$ver") || { apt_update "$suite" && src_deb=$(fetch_deb "$pkg" "$ver"); } ||
	die "apt-get download $pkg=$ver failed"
top=$(dpkg-deb -c "$src_deb" | awk '$NF ~ /\/usr\/src\/linux-source-.*\.tar\.xz$/ { print $NF; exit }')
[ -n "$top" ] || die "no source tarball in $src_deb"
top=$(basename "$top" .tar.xz)
# The source tarball, decompressed once into <cache>/src/<deb name>.tar:
# xz takes about 15 s of CPU for each read of it, and every build and
# every check of a patch reads it; plain tar reads it in seconds.
source_tar=$cache/src/$(basename "$src_deb" .deb).tar
unpack_source_tar() {
	[ -f "$source_tar" ] && return 0
	mkdir -p "$(dirname "$source_tar")"
	(
		flock 8
		[ -f "$source_tar" ] && exit 0
		log "$name: decompressing $(basename "$src_deb")'s source tarball into $source_tar"
		dpkg-deb --fsys-tarfile "$src_deb" | tar -xOf - "./usr/src/$top.tar.xz" | xz -dc >"$source_tar.tmp" &&
			mv "$source_tar.tmp" "$source_tar"
	) 8>"$source_tar.lock"
}
extract() { # dest [path...]: the whole source, or only these paths of it
	mkdir -p "$1"
	local dest=$1
	shift
	unpack_source_tar || return 1
	tar -xf "$source_tar" -C "$dest" --strip-components=1 "${@/#/$top/}"
}

# Patches: each is tried (--dry-run) before it is applied, so that a patch
# that does not apply is named with its failing hunks.
apply() { # dir patch what
	local r
	if ! r=$(patch -d "$1" -p1 -F0 --dry-run -N <"$2" 2>&1); then
		die "$3 $(basename "$2") does not apply to $pkg $ver: $(grep -E 'FAILED|malformed|can.t find|Reversed' <<<"$r" | tr '\n' ';' | sed 's/;$//')"
	fi
	patch -s -d "$1" -p1 -F0 -N --no-backup-if-mismatch <"$2"
}
apply_all() { # dir with-support(0|1)
	local p f files needle skip
	if [ "$2" = 1 ]; then
		for p in "${support_patches[@]}"; do
			# A build-support patch applies where what it changes
			# exists (DRM_GPUSVM: 6.15 and later).
			files=$(sed -n 's@^+++ b/\([^\t ]*\).*@\1@p' "$p")
			needle=$(sed -n 's/^ \(config [A-Z0-9_]*\)$/\1/p' "$p" | head -n1)
			skip=0
			for f in $files; do
				[ -f "$1/$f" ] || skip=1
				[ -z "$needle" ] || grep -qx "$needle" "$1/$f" 2>/dev/null || skip=1
			done
			if [ $skip = 1 ]; then
				log "$name: $(basename "$p") not needed here (nothing it changes)"
				continue
			fi
			apply "$1" "$p" "build-support patch"
		done
	fi
	for p in "${patch_files[@]}"; do
		apply "$1" "$p" "patch"
		log "$name: $(basename "$p") applies"
	done
}

mkdir -p "$work"
if [ $resume = 0 ]; then
# A patch series is tried first on the files it touches alone (a minute
# less than the whole source), so that a patch that does not apply stops
# the build before the long part.
if [ ${#patch_files[@]} -gt 0 ]; then
	log "$name: trying the patches on the files they touch"
	mapfile -t touched < <(sed -n 's@^\(---\|+++\) [ab]/\([^\t ]*\).*@\2@p' "${support_patches[@]}" "${patch_files[@]}" | sort -u)
	# a file a patch creates is not in the source: tar says so, patch decides
	extract "$work/check" "${touched[@]}" 2>/dev/null || true
	apply_all "$work/check" 1
	rm -rf "$work/check"
fi
if [ -n "$from" ]; then
	log "$name: starting from the tree of $(basename "$from") (incremental)"
	cp -a "$from/headers" "$src"
	apply_all "$src" 0 # the build-support patches are in that tree
else
	log "$name: extracting $(basename "$src_deb")"
	extract "$src" || die "extracting $src_deb failed"
	apply_all "$src" 1
fi
fi

# Configuration: defconfig, kvm_guest.config, our fragments (merge_config.sh
# warns where a value is overridden; what matters is checked below).
if [ $resume = 0 ]; then
log "$name: configuring"
frag_all=$work/fragments.config
cat "${fragments[@]}" >"$frag_all"
grep -qx 'config DRM_GPUSVM' "$src/drivers/gpu/drm/Kconfig" 2>/dev/null && echo 'CONFIG_DRM_GPUSVM=m' >>"$frag_all"
# Debian's source reads the tree's .kernelvariables: the compiler
# is named there, so that out-of-tree module builds (plain make M=) use it.
printf 'CC = %s\nHOSTCC = %s\n' "$cc" "$cc" >"$src/.kernelvariables"
grep -q 'kernelvariables' "$src/Makefile" || die "$pkg $ver's Makefile does not read .kernelvariables"
mk() { in_root "$work" -- make -C "$src" -s "$@"; }
mk defconfig >"$work/config.log" 2>&1 || die "make defconfig failed: $(tail -n3 "$work/config.log")"
in_root "$work" -- env -C "$src" "$src/scripts/kconfig/merge_config.sh" -m -O "$src" \
	"$src/.config" "$src/kernel/configs/kvm_guest.config" "$frag_all" >>"$work/config.log" 2>&1 ||
	die "merge_config.sh failed: $(tail -n3 "$work/config.log")"
mk olddefconfig >>"$work/config.log" 2>&1 || die "make olddefconfig failed: $(tail -n3 "$work/config.log")"
missing=()
while IFS= read -r line; do
	case "$line" in
	CONFIG_*=*) grep -qxF "$line" "$src/.config" || missing+=("$line (got: $(grep -E "^(# )?${line%%=*}[= ]" "$src/.config" || echo unset))") ;;
	'# CONFIG_'*' is not set')
		opt=${line#\# }
		opt=${opt%% *}
		grep -q "^$opt=" "$src/.config" && missing+=("$line (got: $(grep "^$opt=" "$src/.config"))")
		;;
	esac
done < <(sed 's/[[:space:]]*$//' "$frag_all")
if [ ${#missing[@]} -gt 0 ]; then
	printf 'kernel-build: error: %s: options that did not stick (a dependency is missing in %s %s):\n' "$name" "$pkg" "$ver" >&2
	printf '  %s\n' "${missing[@]}" >&2
	exit 1
fi
echo "$key" >"$work/.configured"
fi

# The build, with a line of progress a minute (files compiled so far).
log "$name: building bzImage and modules with $compiler, -j$jobs"
blog=$work/build.log
[ $resume = 1 ] && [ -f "$blog" ] && mv "$blog" "$blog.interrupted"
(
	while sleep 60; do
		log "$name: $(grep -c '^  CC ' "$blog" 2>/dev/null || echo 0) files compiled, $(elapsed)"
	done
) &
ticker=$!
# make runs in a session of its own: an interrupted build stops it (and its
# compilers) before the work directory goes.
if [ -n "$broot" ]; then
	setsid "$scripts/buildroot.sh" run "$broot" "$work" -- make -C "$src" -j"$jobs" bzImage modules >"$blog" 2>&1 &
else
	setsid make -C "$src" -j"$jobs" bzImage modules >"$blog" 2>&1 &
fi
builder=$!
trap 'kill -- -$builder $ticker 2>/dev/null; wait; log "$name: kept $work for the next run to resume"' EXIT
trap 'exit 130' INT TERM
status=0
wait "$builder" || status=$?
kill "$ticker" 2>/dev/null || true
wait "$ticker" 2>/dev/null || true
trap 'log "$name: kept $work for the next run to resume"' EXIT
[ $status = 0 ] || die "$name: build failed after $(elapsed): $(grep -m3 -E 'error|Error' "$blog" | tr '\n' ';')"
warnings=$(grep -c -i 'warning:' "$blog" || true)
log "$name: built in $(elapsed) ($warnings compiler warnings; the log is $out/build.log)"

release=$(cat "$src/include/config/kernel.release")
log "$name: installing modules ($release)"
in_root "$work" -- make -C "$src" -s INSTALL_MOD_PATH="$work/modules" INSTALL_MOD_STRIP=1 \
	DEPMOD=/sbin/depmod modules_install >>"$blog" 2>&1 || die "modules_install failed: $(tail -n3 "$blog")"
rm -f "$work/modules/lib/modules/$release/build" "$work/modules/lib/modules/$release/source"
cp "$src/arch/x86/boot/bzImage" "$work/vmlinuz"
# The uncompressed kernel, which QEMU boots through its PVH entry (no
# decompression under TCG). Not for the debug flavour: its vmlinux (KASAN,
# 132 MiB loaded) triple-faults at the PVH entry under QEMU 7.2's TCG before
# the first console byte (-d cpu_reset), while its bzImage boots; without a
# vmlinux the runner boots the bzImage.
if [ "$flavour" != debug ]; then
	in_root "$work" -- objcopy --strip-debug "$src/vmlinux" "$work/vmlinux"
fi
echo "$release" >"$work/release"
if [ -n "$broot" ]; then
	echo "$broot $cc" >"$work/buildroot"
fi

built=$(($(date +%s) - start))
{
	printf '{\n  "series": "%s",\n  "base": "%s",\n  "flavour": "%s",\n  "patches": "%s",\n' "$name" "$series" "$flavour" "$patches_name"
	printf '  "release": "%s",\n  "suite": "%s",\n  "source": { "name": "%s", "version": "%s", "sha256": "%s" },\n' \
		"$release" "$suite" "$pkg" "$ver" "$(sha256sum "$src_deb" | cut -d' ' -f1)"
	printf '  "compiler": "%s",\n  "jobs": %d,\n  "buildSeconds": %d,\n  "compilerWarnings": %d,\n  "key": "%s",\n' \
		"$compiler" "$jobs" "$built" "$warnings" "$key"
	printf '  "incrementalFrom": %s,\n' "$([ -n "$from" ] && printf '"%s"' "$(basename "$from")" || echo null)"
	printf '  "inputs": [%s],\n' "$(sed 's/.*/"&"/' <<<"$h" | paste -sd, | sed 's/,/, /g')"
	printf '  "created": "%s"\n}\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
} >"$work/manifest.json"

# Prove the Kbuild directory works before the kernel goes into place: a
# trivial module, its vermagic.
echo "$src" >"$work/kdir"
probe=$(mktemp -d)
printf '#include <linux/module.h>\nstatic int __init p_init(void) { return 0; }\nmodule_init(p_init);\nMODULE_LICENSE("GPL");\nMODULE_DESCRIPTION("Kbuild probe");\n' >"$probe/kprobe_build.c"
echo 'obj-m := kprobe_build.o' >"$probe/Kbuild"
"$scripts/kbuild.sh" "$work" "$probe" -s >&2 || die "$name: test module build failed"
vm=$(modinfo -F vermagic "$probe/kprobe_build.ko")
rm -rf "$probe"
[ "${vm%% *}" = "$release" ] || die "$name: vermagic '$vm' does not match $release"

# Into place (the tree names only relative paths: it can move).
rm -rf "$out.old"
[ -e "$out" ] && mv "$out" "$out.old"
mv "$work" "$out"
echo "$out/headers" >"$out/kdir"
rm -rf "$out.old"
echo "$key" >"$out/.complete"
trap - EXIT
log "$name: ready in $(elapsed) ($out)"
echo "$out"
