#!/usr/bin/env bash
# mirrorlab setup: Debian packages, npm packages, the addon, the guest kernels,
# then the main job. Idempotent; fast when everything is already there.
#
#   bash scripts/setup.sh            set up, then run the main job
#   bash scripts/setup.sh --no-run   set up only (CI)
#   bash scripts/setup.sh --kernels  also build our own kernels (the test and
#                                    debug flavours of the newest series:
#                                    about 40 and 50 minutes on 2 cores, once
#                                    per machine; docs/kernel-builds.md)
set -euo pipefail
cd "$(dirname "$0")/.."

run_main=1
build_kernels=0
for a in "$@"; do
	case "$a" in
	--no-run) run_main=0 ;;
	--kernels) build_kernels=1 ;;
	*) echo "setup.sh: unknown option $a" >&2; exit 2 ;;
	esac
done

step() { printf '\n== %s\n' "$*"; }

# Two setups of one checkout at once (two CI jobs, a user and a timer) would
# build the addon into the same build/ together: the second waits for the
# first. Its logs are its own files (mktemp), removed when it ends.
mkdir -p .cache
exec 7>.cache/setup.lock
if ! flock -n 7; then
	echo "setup.sh: another setup of this checkout is running; waiting for it" >&2
	flock 7
fi
logs=$(mktemp -d "${TMPDIR:-/tmp}/mirrorlab-setup.XXXXXX")
trap 'rm -rf "$logs"' EXIT

# Debian packages: the toolchain for the addon and the modules, and QEMU with
# busybox and cpio for the guests, pahole (dwarves) for module BTF on 6.12,
# debootstrap for the sid build root (7.2's modules need sid's gcc-16),
# file to check that the kernel's selftests linked statically, Chromium to
# check the HTML report renders, xmllint (libxml2-utils) to check the JUnit
# export, python3-jsonschema for KernelCI's KCIDB validator the tests run
# (test/vendor/kcidb-io), lava-dispatcher to run our LAVA jobs with lava-run
# (test/guest/lava.test.ts; its lava-worker service is not needed).
apt_pkgs=(build-essential python3 make g++ cpio busybox-static qemu-system-x86 kmod zstd xz-utils ca-certificates dwarves debootstrap file chromium
	libxml2-utils python3-jsonschema lava-dispatcher)
command -v node >/dev/null 2>&1 || apt_pkgs+=(nodejs npm)
missing=()
for p in "${apt_pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	step "Debian packages: ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q
	# No service may start from the install (lava-dispatcher ships lava-worker):
	# a policy-rc.d that refuses, for the install only, unless one is there.
	policy=/usr/sbin/policy-rc.d
	own_policy=0
	if [ ! -e "$policy" ]; then
		printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy" && own_policy=1
	fi
	apt-get install -y -q --no-install-recommends "${missing[@]}" >"$logs/apt.log" 2>&1 ||
		{ tail -40 "$logs/apt.log"; [ "$own_policy" = 1 ] && rm -f "$policy"; exit 1; }
	[ "$own_policy" = 1 ] && rm -f "$policy"
	# Installed but not enabled: mirrorlab runs lava-run by hand.
	if command -v systemctl >/dev/null 2>&1; then
		for unit in lava-worker lava-docker-worker lava-dispatcher-host.socket lava-dispatcher-host; do
			if systemctl is-enabled "$unit" >/dev/null 2>&1; then systemctl disable --now "$unit" >/dev/null 2>&1 || true; fi
		done
	fi
fi

# node-gyp must build against the running node's own headers (there is no
# network to fetch them from).
nodedir=$(dirname "$(dirname "$(command -v node)")")
if [ ! -f "$nodedir/include/node/node_api.h" ]; then
	echo "setup.sh: node headers not found under $nodedir/include/node" >&2
	exit 1
fi
export npm_config_nodedir="$nodedir"

step "npm packages"
# `npm install` rather than `npm ci`: this npm leaves other platforms'
# optional packages out of the lock file, which `npm ci` then refuses.
if [ ! -d node_modules ] || [ package.json -nt node_modules/.package-lock.json ] ||
	[ package-lock.json -nt node_modules/.package-lock.json ]; then
	npm install --no-audit --no-fund
fi

step "build: addon and TypeScript"
npm run --silent build:native >"$logs/node-gyp.log" 2>&1 || { cat "$logs/node-gyp.log"; exit 1; }
npm run --silent build:ts

if [ -x scripts/kernels.sh ]; then
	# Every series of scripts/kernel-series, default or not, so that a
	# fresh machine can run any of them: Debian's kernels and headers into
	# /var/cache/mirrorlab (pahole from dwarves is needed for module BTF on
	# 6.12; sid's 7.2 brings a sid build root), then our out-of-tree
	# modules against each.
	source scripts/kernel-series.sh
	mapfile -t all < <(all_series)
	step "guest kernels"
	scripts/kernels.sh "${all[@]}"
	step "kernel modules"
	scripts/build-modules.sh "${all[@]}"
	# The kernel's own mm selftests and test_hmm.ko, from each series'
	# linux-source package (static binaries the guests run as they are).
	step "kernel selftests"
	scripts/selftests.sh "${all[@]}"
	# The kernel's KTAP parser (tools/testing/kunit/kunit.py) from the newest
	# series' linux-source, which the tests run on our KTAP.
	step "kunit.py"
	scripts/kunit-tool.sh
	if [ "$build_kernels" = 1 ]; then
		mapfile -t defaults < <(default_series)
		newest=${defaults[${#defaults[@]} - 1]}
		for flavour in test debug; do
			step "our kernel: $newest-$flavour"
			scripts/kernel-build.sh "$newest" "$flavour"
			scripts/build-modules.sh "$newest-$flavour"
		done
	fi
fi

if [ "$run_main" = 1 ]; then
	# The main job: every benchmark suite this machine supports, the host's
	# natively and the guests' in QEMU on 6.1, 6.12 and 7.2. The report lands in
	# results/latest/ (results.json, results.ktap, report.html).
	step "main job: mirrorlab bench"
	node dist/cli/main.js probe
	node dist/cli/main.js bench --out results/latest
fi
