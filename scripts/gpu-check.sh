#!/usr/bin/env bash
# The GPU check: mirrorlab's GPU tests and the gpu/cuda bench suite on an
# NVIDIA machine that may have no network and no Node.js.
#
#   bash scripts/gpu-check.sh pack [DIR]   here, after setup: bundle what a bare
#                                          machine needs into DIR (default
#                                          .gpu-bundle): this machine's node,
#                                          node_modules (no compilers), the built
#                                          addon and dist/
#   bash scripts/gpu-check.sh run [OUT]    there, in a copy of the repository
#                                          with the bundle: unpack it where
#                                          node_modules, build/ or dist/ are
#                                          missing, then record the machine (driver,
#                                          kernel module, nvidia-uvm, kernel
#                                          config), run the GPU tests and
#                                          `bench --suite gpu/cuda`; writes
#                                          OUT (default results/gpu-check)
#
# `run` keeps going when one step fails (each has its own time limit, the
# whole run stays under 8 minutes) and exits with the first failure's status.
# OUT holds: gpu-check.log (everything printed), machine.txt, probe.json,
# tests.junit.xml, results.json and report.html of the suite, results.ktap.
set -uo pipefail
cd "$(dirname "$0")/.."

cmd=${1:-}
case "$cmd" in
pack)
	dir=${2:-.gpu-bundle}
	set -e
	[[ -f build/Release/mirrorlab.node && -f dist/cli/main.js && -d node_modules ]] ||
		{ echo "gpu-check pack: run bash scripts/setup.sh --no-run (or npm run build) first" >&2; exit 1; }
	rm -rf "$dir" && mkdir -p "$dir"
	xz -T0 -6 -c "$(command -v node)" >"$dir/node.xz"
	# node_modules without the compilers (typescript, node-gyp): the bundle
	# runs built code only
	tar -C . -cf - --exclude=node_modules/typescript --exclude=node_modules/node-gyp \
		--exclude=node_modules/@types --exclude='node_modules/.cache' node_modules | xz -T0 -6 >"$dir/node_modules.tar.xz"
	tar -C . -cJf "$dir/build.tar.xz" build/Release/mirrorlab.node build/Release/touch_ref dist
	du -sh "$dir"/*
	exit 0
	;;
run) ;;
*)
	echo "usage: bash scripts/gpu-check.sh pack [DIR] | run [OUT]" >&2
	exit 2
	;;
esac

out=${2:-results/gpu-check}
bundle=${MIRRORLAB_GPU_BUNDLE:-.gpu-bundle}
mkdir -p "$out"
log="$out/gpu-check.log"
exec > >(tee "$log") 2>&1
started=$SECONDS
status=0
step() {
	# step NAME LIMIT_S command...: time-limited, its status kept, never fatal
	local name=$1 limit=$2
	shift 2
	echo "== $name (limit ${limit}s, at $((SECONDS - started))s)"
	timeout --kill-after=10 "$limit" "$@"
	local rc=$?
	echo "== $name: exit $rc"
	[[ $rc -ne 0 && $status -eq 0 ]] && status=$rc
	return 0
}

# xz and tar may be missing on a minimal image: python3's lzma and tarfile do the same
unxz_to() {
	if command -v xz >/dev/null; then xz -dc "$1" >"$2"; else
		python3 -c 'import lzma,shutil,sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))' "$1" "$2"
	fi
}
untar_xz() {
	if command -v xz >/dev/null && command -v tar >/dev/null; then tar -xJf "$1"; else
		python3 -c 'import sys,tarfile; tarfile.open(sys.argv[1]).extractall(".")' "$1"
	fi
}

# Node: the machine's own when it is 18 or newer, else the bundle's.
node_ok() { command -v node >/dev/null && node -e 'process.exit(+process.versions.node.split(".")[0] < 18)'; }
if ! node_ok || [[ ${MIRRORLAB_GPU_CHECK_NODE:-} == bundle ]]; then
	[[ -f $bundle/node.xz ]] || { echo "gpu-check: no usable node and no $bundle/node.xz (run pack here first)"; exit 1; }
	mkdir -p .gpu-bin
	unxz_to "$bundle/node.xz" .gpu-bin/node && chmod +x .gpu-bin/node
	export PATH="$PWD/.gpu-bin:$PATH"
fi
echo "node $(node --version) at $(command -v node)"
[[ -d node_modules/vitest ]] || untar_xz "$bundle/node_modules.tar.xz"
[[ -f build/Release/mirrorlab.node && -f dist/cli/main.js ]] || untar_xz "$bundle/build.tar.xz"

machine() {
	echo "date: $(date -u +%FT%TZ)"
	echo "kernel: $(uname -r) $(uname -m)"
	echo "cpus: $(nproc), memory: $(awk '/MemTotal/ {print $2 " kB"}' /proc/meminfo)"
	echo "nvidia module: $(head -1 /proc/driver/nvidia/version 2>/dev/null || echo 'no /proc/driver/nvidia/version')"
	for m in nvidia nvidia_uvm nvidia_drm nvidia_modeset; do
		[[ -d /sys/module/$m ]] && echo "module $m: loaded $(cat /sys/module/$m/version 2>/dev/null)"
	done
	echo "uvm_disable_hmm: $(cat /sys/module/nvidia_uvm/parameters/uvm_disable_hmm 2>/dev/null || echo '-')"
	local cfg=""
	if [[ -r /proc/config.gz ]]; then cfg=$(zcat /proc/config.gz)
	elif [[ -r /boot/config-$(uname -r) ]]; then cfg=$(cat "/boot/config-$(uname -r)"); fi
	if [[ -n $cfg ]]; then
		grep -E '^(# )?CONFIG_(HMM_MIRROR|DEVICE_PRIVATE|ZONE_DEVICE|MMU_NOTIFIER|USERFAULTFD|TRANSPARENT_HUGEPAGE|HUGETLBFS|MEMORY_HOTPLUG|PCI_P2PDMA)[ =]' <<<"$cfg"
	else
		echo "kernel config: not readable"
	fi
	ls -l /dev/dri 2>/dev/null || echo "no /dev/dri"
	if command -v nvidia-smi >/dev/null; then
		nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.mem,temperature.gpu,utilization.gpu --format=csv
		# the driver's own word on how the GPU reaches pageable memory (HMM, ATS or none)
		nvidia-smi -q | grep -iE 'Addressing Mode|CUDA Version' || true
	fi
	echo "load: $(cat /proc/loadavg)"
}
machine | tee "$out/machine.txt"

step probe 60 sh -c "node dist/cli/main.js probe --json >'$out/probe.json' && node dist/cli/main.js probe | sed -n '/^GPU/,\$p'"
export MIRRORLAB_RESULTS="$out"
step tests 200 node node_modules/vitest/vitest.mjs run test/host/cuda.test.ts test/host/cuda-scenarios.test.ts test/host/drm-hardware.test.ts test/host/probe.test.ts
# MIRRORLAB_GPU_CHECK_QUICK=1: the suite's short form; MIRRORLAB_GPU_CHECK_RUNS=N: N
# runs of it, for the spread between runs beside the spread within one
opts=()
[[ ${MIRRORLAB_GPU_CHECK_QUICK:-} == 1 ]] && opts+=(--quick)
[[ ${MIRRORLAB_GPU_CHECK_RUNS:-1} -gt 1 ]] && opts+=(--runs "$MIRRORLAB_GPU_CHECK_RUNS")
step bench 220 node dist/cli/main.js bench --suite gpu/cuda "${opts[@]}" --out "$out/bench"
for f in results.json report.html results.ktap; do
	[[ -f $out/bench/$f ]] && cp "$out/bench/$f" "$out/$f"
done
rm -rf "$out/bench" "$out/guest.ktap" "$out/guest.json"
echo "== gpu-check: status $status after $((SECONDS - started))s; files in $out: $(ls "$out" | tr '\n' ' ')"
exit $status
