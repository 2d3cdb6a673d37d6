#!/usr/bin/env bash
# Extract the kernel's KUnit tool (tools/testing/kunit: kunit.py and its KTAP
# parser) from Debian's linux-source package, so that the tests can check our
# KTAP with the parser kernel developers use (`kunit.py parse FILE`).
#
#   scripts/kunit-tool.sh [SERIES]      default: the newest series of scripts/kernel-series
#   scripts/kunit-tool.sh --help
#
# Layout under ${MIRRORLAB_CACHE:-/var/cache/mirrorlab}/kunit/:
#   tools/testing/kunit/   of the source, as it is (kunit.py, kunit_parser.py, ...);
#                          the path is kept: kunit.py finds the kernel tree it
#                          belongs to by it and exits 1 without it
#   .complete              written last: "<package>=<version>"
# The source package is linux-source-<series> at the version of the series'
# kernel (the kernel cache's manifest.json; scripts/kernels.sh must have
# provisioned it), the same .deb scripts/selftests.sh builds from (reused from
# the .deb cache when it is there). Only tools/testing/kunit is extracted.
# Cached: nothing is done when .complete names the same package and version.
# An unknown series exits with status 2 before anything is done.
set -euo pipefail
scripts=$(cd "$(dirname "$0")" && pwd)
source "$scripts/kernel-series.sh"
source "$scripts/debian-apt.sh"

log() { printf 'kunit-tool: %s\n' "$*" >&2; }
die() { printf 'kunit-tool: error: %s\n' "$*" >&2; exit 1; }

case "${1:-}" in
-h | --help)
	sed -n '6,7p' "$0" | sed 's/^# \{0,1\}//' >&2
	echo "series: $(known_series)" >&2
	exit 0
	;;
esac
[ $# -le 1 ] || { echo "kunit-tool: error: one series at most" >&2; exit 2; }
if [ $# -eq 1 ]; then
	row=$(series_of "$1") || {
		printf 'kunit-tool: error: unknown series %s (known: %s)\n' "'$1'" "$(known_series)" >&2
		exit 2
	}
else
	row=$(default_series | tail -n1)
fi

kc=$(series_cache_dir "$cache/kernels" "$row")
[ -f "$kc/manifest.json" ] || die "kernel cache for $row missing ($kc); run scripts/kernels.sh $row"
series=$(basename "$kc")
pkg=linux-source-$series
ver=$(sed -n 's/.*"version": "\([^"]*\)".*/\1/p' "$kc/manifest.json" | head -n1)
[ -n "$ver" ] || die "$series: no package version in $kc/manifest.json"

out=$cache/kunit
key="$pkg=$ver"
if [ -f "$out/.complete" ] && [ "$(cat "$out/.complete")" = "$key" ]; then
	log "cached in $out ($key)"
	exit 0
fi

use_suite "$(series_column "$row" 2)"
if ! src_deb=$(fetch_deb "$pkg" "$ver"); then
	apt_update "$(series_column "$row" 2)" && src_deb=$(fetch_deb "$pkg" "$ver") || die "apt-get download $pkg=$ver failed"
fi
top=$(dpkg-deb -c "$src_deb" | awk '$NF ~ /\/usr\/src\/linux-source-.*\.tar\.xz$/ { print $NF; exit }')
[ -n "$top" ] || die "no source tarball in $src_deb"
top=$(basename "$top" .tar.xz)

# A staging directory of this run's own: two runs at once never extract into one.
mkdir -p "$cache"
tmp=$(mktemp -d "$cache/.kunit.new.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
log "extracting tools/testing/kunit from $pkg $ver"
dpkg-deb --fsys-tarfile "$src_deb" | tar -xOf - "./usr/src/$top.tar.xz" |
	tar -xJf - -C "$tmp" --strip-components=1 "$top/tools/testing/kunit" ||
	die "extracting $top/tools/testing/kunit from $src_deb failed"
[ -f "$tmp/tools/testing/kunit/kunit.py" ] || die "no kunit.py in $top/tools/testing/kunit"
echo "$key" >"$tmp/.complete"
# Swapped in by renames: a reader sees the old tree or the new one, never a half-copied one.
[ -e "$out" ] && mv -T "$out" "$out.old.$$"
mv -T "$tmp" "$out"
rm -rf "$out.old.$$"
log "ready in $out ($key)"
