#!/usr/bin/env bash
# Prebuilt binaries for the package (npm pack runs this as "prepack"):
# prebuildify builds the addon for Node-API (one file for every Node version
# with that Node-API level) into prebuilds/<platform>-<arch>/, where
# node-gyp-build finds it at run time, so installing the package needs no
# compiler. touch_ref, the C reference loop of `mirrorlab faults`, goes beside it.
#
# The build runs in a copy of the sources: node-gyp rebuild starts by
# deleting build/, and build/modules holds the kernel modules built for the
# guest kernels.
#
# The result is kept in <cache>/prebuilds/<key>/, the key a hash of every
# input of the build (binding.gyp, package.json, native/, the uapi headers,
# the versions of node, node-addon-api, prebuildify and the compilers):
# packing sources that were packed before copies the binaries instead of
# compiling the addon again (about 40 s of CPU here).
# MIRRORLAB_PREBUILD_CACHE=0 always builds; --key prints the key and exits.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
target="$(node -p 'process.platform + "-" + process.arch')"
store=${MIRRORLAB_CACHE:-/var/cache/mirrorlab}/prebuilds

key=$(
	cd "$root"
	{
		find binding.gyp package.json native kernel-patches/include -type f -print0 | sort -z | xargs -0 sha256sum
		echo "target $target node $(node -p 'process.versions.node + " napi " + process.versions.napi')"
		node -p 'require("node-addon-api/package.json").version + " " + require("prebuildify/package.json").version'
		for cc in cc c++; do "$cc" --version | head -n1; done
	} | sha256sum | cut -c1-32
)
cached=$store/$key
if [ "${1:-}" = --key ]; then
	echo "$key"
	exit 0
fi

install_prebuilds() { # from
	rm -rf "$root/prebuilds/$target"
	mkdir -p "$root/prebuilds/$target"
	cp -a "$1/." "$root/prebuilds/$target/"
	ls -l "$root/prebuilds/$target"
}

if [ "${MIRRORLAB_PREBUILD_CACHE:-1}" != 0 ] && [ -f "$cached/mirrorlab.node" ] && [ -f "$cached/touch_ref" ]; then
	echo "prebuild: the binaries of these sources, from $cached" >&2
	install_prebuilds "$cached"
	exit 0
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

cp -a "$root/binding.gyp" "$root/native" "$root/package.json" "$tmp/"
mkdir -p "$tmp/kernel-patches"
cp -a "$root/kernel-patches/include" "$tmp/kernel-patches/"
ln -s "$root/node_modules" "$tmp/node_modules"

# Against the running node's own headers, as setup.sh builds (no download):
# a Node-API build does not depend on the version it is built with.
export npm_config_nodedir
npm_config_nodedir=$(dirname "$(dirname "$(command -v node)")")
(cd "$tmp" && JOBS=max "$root/node_modules/.bin/prebuildify" --napi --strip \
	--target "$(node -p process.versions.node)" >"$tmp/build.log" 2>&1) ||
	{ cat "$tmp/build.log" >&2; exit 1; }
install -m 0755 "$tmp/build/Release/touch_ref" "$tmp/prebuilds/$target/touch_ref"
strip "$tmp/prebuilds/$target/touch_ref"

# Kept for the next pack of the same sources: written under a temporary
# name and renamed, so a concurrent pack never copies half of it. A cache
# that cannot be written (another user's) is not an error.
if [ "${MIRRORLAB_PREBUILD_CACHE:-1}" != 0 ] && mkdir -p "$store" 2>/dev/null &&
	part=$(mktemp -d "$store/.$key.XXXXXX" 2>/dev/null); then
	cp -a "$tmp/prebuilds/$target/." "$part/" &&
		mv -T "$part" "$cached" 2>/dev/null || rm -rf "$part"
fi
install_prebuilds "$tmp/prebuilds/$target"
