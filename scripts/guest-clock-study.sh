#!/usr/bin/env bash
# How reproducible guest figures are under each guest clock: runs
#   mirrorlab bench --suite SUITES --kernel K --quick --guest-clock MODE
# N times per mode (the modes alternate, so host load falls on both alike),
# records the host load before each run, then prints per figure the min,
# median and max of the run medians and their spread (max/min) per mode
# (src/bench/clock-study.ts).
#
#   scripts/guest-clock-study.sh [-n RUNS] [-k KERNEL] [-s SUITES] [-m MODES] [-o DIR]
#   scripts/guest-clock-study.sh -r DIR       only the summary of a finished study
set -euo pipefail
cd "$(dirname "$0")/.."

runs=5 kernel=7.2 suites=guest/fakevram,guest/mirrordrm modes='wall icount' out='' report_only=''
usage() { echo "usage: $0 [-n RUNS] [-k KERNEL] [-s SUITES] [-m 'wall icount'] [-o DIR] | -r DIR" >&2; exit 2; }
while getopts 'n:k:s:m:o:r:h' opt; do
  case $opt in
    n) runs=$OPTARG ;;
    k) kernel=$OPTARG ;;
    s) suites=$OPTARG ;;
    m) modes=$OPTARG ;;
    o) out=$OPTARG ;;
    r) report_only=$OPTARG ;;
    *) usage ;;
  esac
done
[[ $runs =~ ^[1-9][0-9]*$ ]] || usage
[ -f dist/cli/main.js ] || { echo "$0: dist/ not built (npm run build:ts)" >&2; exit 1; }

if [ -n "$report_only" ]; then
  exec node dist/bench/clock-study.js "$report_only"
fi

out=${out:-results/guest-clock-study-$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$out"
echo "guest clock study: $runs run(s) per mode ($modes), kernel $kernel, suites $suites -> $out" >&2
for ((i = 1; i <= runs; i++)); do
  for mode in $modes; do
    dir=$out/$mode-$i
    echo "$mode-$i $(date -u +%H:%M:%S) load $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$out/load.txt" >&2
    # A failed check still leaves a results file to summarize; a run without one is reported below.
    node dist/cli/main.js bench --suite "$suites" --kernel "$kernel" --quick --guest-clock "$mode" --out "$dir" >"$dir.log" 2>&1 ||
      echo "$mode-$i: bench exited $? (see $dir.log)" | tee -a "$out/load.txt" >&2
  done
done
echo "end $(date -u +%H:%M:%S) load $(cut -d' ' -f1-3 /proc/loadavg)" >>"$out/load.txt"
node dist/bench/clock-study.js "$out"
