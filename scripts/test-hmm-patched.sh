#!/usr/bin/env bash
# Build lib/test_hmm.ko of a guest kernel series with our fixes applied
# (kernel-patches/test_hmm/*.patch, in name order), next to the module as
# shipped that scripts/selftests.sh built, so that a test can show a bug on
# the one and its fix on the other in the same kind of guest.
#
#   scripts/test-hmm-patched.sh SERIES
#
# Output: <cache>/test_hmm-patched/<series>/test_hmm.ko and .complete, which
# names the source package, the patches' sha256 and the recipe; a build with
# the same key is skipped. The source is the linux-source package of the
# selftests build (its manifest.json), from the .deb that selftests.sh left
# in the cache; only lib/test_hmm.c and lib/test_hmm_uapi.h are extracted
# (about 20 s: the whole xz stream is read). Built with scripts/kbuild.sh
# against the cached kernel, as selftests.sh builds the module as shipped.
# Exit 2 for usage, 1 when something is missing or fails (with the reason).
set -euo pipefail
scripts=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$scripts")
cache=${MIRRORLAB_CACHE:-/var/cache/mirrorlab}
debs=${MIRRORLAB_DEBS:-$cache/debs}
recipe=1

die() { printf 'test-hmm-patched: error: %s\n' "$*" >&2; exit 1; }
[ $# -eq 1 ] && [ -n "$1" ] || { echo "usage: scripts/test-hmm-patched.sh SERIES" >&2; exit 2; }
series=$1
manifest=$cache/selftests/$series/manifest.json
kc=$cache/kernels/$series
[ -f "$manifest" ] || die "no selftests build for $series ($manifest); scripts/selftests.sh $series makes it"
[ -f "$kc/.complete" ] || die "no kernel cache for $series ($kc); scripts/kernels.sh $series makes it"
grep -q '"testHmm": true' "$manifest" || die "the selftests build of $series has no test_hmm.ko: $(sed -n 's/.*"testHmm": \(.*\),$/\1/p' "$manifest")"
pkg=$(sed -n 's/.*"package": "\([^"]*\)".*/\1/p' "$manifest")
ver=$(sed -n 's/.*"version": "\([^"]*\)".*/\1/p' "$manifest" | head -n1)
deb=""
for f in "$debs/${pkg}_${ver//:/%3a}_"*.deb "$debs/${pkg}_${ver}_"*.deb; do
	[ -f "$f" ] && deb=$f && break
done
[ -n "$deb" ] || die "no ${pkg}_${ver} .deb in $debs (scripts/selftests.sh $series downloads it)"

mapfile -t patches < <(find "$root/kernel-patches/test_hmm" -maxdepth 1 -name '*.patch' | sort)
[ ${#patches[@]} -gt 0 ] || die "no patches in kernel-patches/test_hmm"
key="$pkg=$ver | $(cat "${patches[@]}" | sha256sum | cut -d' ' -f1) | recipe $recipe"
out=$cache/test_hmm-patched/$series
if [ -f "$out/.complete" ] && [ "$(cat "$out/.complete")" = "$key" ]; then
	echo "$out/test_hmm.ko"
	exit 0
fi

mkdir -p "$cache/test_hmm-patched"
work=$(mktemp -d "$cache/test_hmm-patched/.build.XXXXXX")
trap 'rm -rf "$work"' EXIT
top=$(dpkg-deb -c "$deb" | awk '$NF ~ /\/usr\/src\/linux-source-.*\.tar\.xz$/ { print $NF; exit }')
[ -n "$top" ] || die "no source tarball in $deb"
top=$(basename "$top" .tar.xz)
mkdir -p "$work/a/lib"
dpkg-deb --fsys-tarfile "$deb" | tar -xOf - "./usr/src/$top.tar.xz" |
	tar -xJf - -C "$work/a/lib" --strip-components=2 "$top/lib/test_hmm.c" "$top/lib/test_hmm_uapi.h" ||
	die "extracting lib/test_hmm.c from $deb failed"
for p in "${patches[@]}"; do
	patch -s -d "$work/a" -p1 --no-backup-if-mismatch <"$p" || die "$(basename "$p") does not apply to $pkg $ver"
done
mkdir -p "$work/m"
cp "$work/a/lib/test_hmm.c" "$work/a/lib/test_hmm_uapi.h" "$work/m/"
echo 'obj-m := test_hmm.o' >"$work/m/Kbuild"
"$scripts/kbuild.sh" "$kc" "$work/m" -s -j"${MIRRORLAB_MAKE_JOBS:-2}" >"$work/build.log" 2>&1 ||
	die "build failed: $(grep -m1 -E 'error' "$work/build.log" || tail -n1 "$work/build.log")"
release=$(cat "$kc/release")
vm=$(modinfo -F vermagic "$work/m/test_hmm.ko")
[ "${vm%% *}" = "$release" ] || die "vermagic '$vm' does not match $release"
rm -rf "$out"
mkdir -p "$out"
cp -p "$work/m/test_hmm.ko" "$out/"
echo "$key" >"$out/.complete"
echo "$out/test_hmm.ko"
