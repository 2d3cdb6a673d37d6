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
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
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
target="$(node -p 'process.platform + "-" + process.arch')"
(cd "$tmp" && JOBS=max "$root/node_modules/.bin/prebuildify" --napi --strip \
	--target "$(node -p process.versions.node)" >"$tmp/build.log" 2>&1) ||
	{ cat "$tmp/build.log" >&2; exit 1; }
install -m 0755 "$tmp/build/Release/touch_ref" "$tmp/prebuilds/$target/touch_ref"
strip "$tmp/prebuilds/$target/touch_ref"
rm -rf "$root/prebuilds/$target"
mkdir -p "$root/prebuilds"
cp -a "$tmp/prebuilds/$target" "$root/prebuilds/"
ls -l "$root/prebuilds/$target"
