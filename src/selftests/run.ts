// Runs the kernel's own selftests in a guest of the kernel they were built
// for: the build (scripts/selftests.sh) goes in as a second cpio archive
// appended to the initramfs (/selftests in the guest), test_hmm.ko is loaded
// with the VM's reserved range as its DEVICE_COHERENT memory, and every suite
// runs under a time limit; its output is parsed into cases.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { repoRoot } from '../paths.js';
import { builtKernel, cacheRoot, kernelInfo, seriesCacheDir, type BuiltKernel, type KernelSeries } from '../vm/kernels.js';
import { Vm, type ExecResult, type GuestClock, type VmOptions } from '../vm/vm.js';
import { parseHarnessList, suiteCases, type CaseResult, type ParsedOutput } from './parse.js';
import { DEFAULT_SELFTEST_SUITES, type SelftestSuite } from './suites.js';
import { tempPathFor, writeFileAtomic } from '../atomic-file.js';
import { packCpio } from '../vm/cpio.js';

/** manifest.json of a build (scripts/selftests.sh). */
export interface SelftestsManifest {
  series: string;
  release: string;
  source: { package: string; version: string; sha256?: string };
  built: Record<string, boolean>;
  notBuilt?: Record<string, string>;
  /** true, or why test_hmm.ko was not built. */
  testHmm: true | string;
}

export interface SelftestsBuild {
  dir: string;
  manifest: SelftestsManifest;
}

/** Where the guest finds the build. */
const GUEST_DIR = '/selftests';
/** test_hmm's DEVICE_COHERENT chunk per device (lib/test_hmm.c DEVMEM_CHUNK_SIZE). */
const TEST_HMM_CHUNK = 256n << 20n;
/**
 * vCPUs of the selftests guest, two per NUMA node: migration's fixture wants
 * numa_num_task_cpus() - 1 >= 2 threads besides the one that migrates.
 */
const SELFTESTS_CPUS = 4;
/**
 * Swap for the suites that page out (cow's swapped-out variants, khugepaged's
 * collapse of swap entries), as on a CI machine: a brd ram disk, which takes
 * guest memory only for what is swapped out. 512 MiB, an eighth of the
 * guest's 4 GiB, is far more than those cases page out (a few MiB at a time)
 * and leaves the rest of the memory to the tests.
 */
const SWAP_DEVICE = '/dev/ram0';
const SWAP_MIB = 512;

export function selftestsDir(series: KernelSeries): string {
  return seriesCacheDir('selftests', series);
}

/** The complete build of a series, or why there is none. */
export function selftestsBuild(series: KernelSeries): SelftestsBuild | { missing: string } {
  const built = builtKernel(series);
  if (built) return builtKernelSelftests(built);
  const dir = selftestsDir(series);
  if (!fs.existsSync(path.join(dir, '.complete'))) {
    return { missing: `no selftests build for ${series}: ${dir} is missing or incomplete (scripts/selftests.sh ${series} builds it)` };
  }
  const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8')) as SelftestsManifest;
  return { dir, manifest };
}

/**
 * The selftests of a kernel we build: the programs of its Debian series'
 * build (the same linux-source, so the same tests and uapi), with the
 * test_hmm.ko the kernel built itself (TEST_HMM=m in every flavour), under
 * selftests/<name>/, remade when either side changes.
 */
function builtKernelSelftests(built: BuiltKernel): SelftestsBuild | { missing: string } {
  const base = selftestsBuild(built.base);
  if ('missing' in base) return base;
  let k;
  try {
    k = kernelInfo(built.name);
  } catch (e) {
    return { missing: (e as Error).message };
  }
  const kernelKey = (k.manifest as { key?: string }).key ?? '';
  const baseCreated = (base.manifest as SelftestsManifest & { created?: string }).created ?? '';
  const key = `${baseCreated} ${kernelKey}`;
  const dir = path.join(cacheRoot(), 'selftests', built.name);
  const complete = path.join(dir, '.complete');
  if (fs.existsSync(complete) && fs.readFileSync(complete, 'utf8') === key) {
    return { dir, manifest: JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8')) as SelftestsManifest };
  }
  const ko = path.join(k.modulesRoot, 'lib/modules', k.release, 'kernel/lib/test_hmm.ko');
  const tmp = `${dir}.new`;
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.mkdirSync(path.join(tmp, 'modules'), { recursive: true });
  fs.cpSync(path.join(base.dir, 'bin'), path.join(tmp, 'bin'), { recursive: true });
  if (fs.existsSync(ko)) fs.copyFileSync(ko, path.join(tmp, 'modules', 'test_hmm.ko'));
  const manifest: SelftestsManifest = {
    ...base.manifest,
    series: built.name,
    release: k.release,
    testHmm: fs.existsSync(ko) ? true : `the kernel built no ${path.relative(k.modulesRoot, ko)}`,
  };
  fs.writeFileSync(path.join(tmp, 'manifest.json'), JSON.stringify({ ...manifest, programsFrom: base.dir, created: new Date().toISOString() }, null, 2) + '\n');
  fs.writeFileSync(path.join(tmp, '.complete'), key);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.renameSync(tmp, dir);
  return { dir, manifest };
}

/** The binary a suite runs from this build, or why it cannot run. */
export function suiteBinary(build: SelftestsBuild, suite: SelftestSuite): { binary: string } | { skip: string } {
  const notOn = suite.notOn?.[build.manifest.series];
  if (notOn) return { skip: notOn };
  for (const b of suite.binaries) if (fs.existsSync(path.join(build.dir, 'bin', b))) return { binary: b };
  const reasons = suite.binaries.map((b) => build.manifest.notBuilt?.[b]).filter(Boolean);
  return { skip: `${suite.binaries.join(' / ')} not built for ${build.manifest.release}${reasons.length ? `: ${reasons.join('; ')}` : ''}` };
}

/** The build as a cpio archive rooted at /selftests, cached beside the initramfs. */
export function selftestsArchive(series: KernelSeries, build: SelftestsBuild): string {
  const files: string[] = [];
  for (const sub of ['bin', 'modules']) {
    const d = path.join(build.dir, sub);
    if (fs.existsSync(d)) for (const f of fs.readdirSync(d).sort()) files.push(path.join(sub, f));
  }
  files.push('manifest.json');
  const h = createHash('sha256');
  h.update('reproducible cpio\n'); // archives made before packCpio are rebuilt
  for (const f of files) {
    const st = fs.statSync(path.join(build.dir, f));
    h.update(`${f}\0${st.size}\0${st.mtimeMs}\n`);
  }
  const fp = h.digest('hex');
  const outDir = path.join(repoRoot, '.cache/initramfs');
  const out = path.join(outDir, `selftests-${series}.cpio`);
  const stamp = `${out}.stamp`;
  if (fs.existsSync(out) && fs.existsSync(stamp) && fs.readFileSync(stamp, 'utf8') === fp) return out;
  fs.mkdirSync(outDir, { recursive: true });
  const stage = fs.mkdtempSync(path.join(outDir, `.selftests-${series}.`));
  try {
    for (const f of files) {
      const dest = path.join(stage, GUEST_DIR.slice(1), f);
      fs.mkdirSync(path.dirname(dest), { recursive: true });
      fs.copyFileSync(path.join(build.dir, f), dest);
      fs.chmodSync(dest, f.startsWith('bin/') ? 0o755 : 0o644);
    }
    const tmp = tempPathFor(out);
    packCpio(stage, tmp);
    fs.renameSync(tmp, out);
    writeFileAtomic(stamp, fp); // a concurrent reader never sees half a stamp
  } finally {
    fs.rmSync(stage, { recursive: true, force: true });
  }
  return out;
}

/** One run of one suite. */
export interface SuiteRunResult {
  cases: CaseResult[];
  format: ParsedOutput['format'];
  exitStatus: number;
  timedOut: boolean;
  durationMs: number;
  /** The suite's output (stdout, then stderr), kept for reports and measurements. */
  output: string;
}

export interface SuiteReport {
  suite: string;
  binary: string | null;
  args: string[];
  /** Why the suite did not run on this kernel. */
  skipped?: string;
  runs: SuiteRunResult[];
}

export interface SelftestsRun {
  kernel: KernelSeries;
  release: string;
  source: { package: string; version: string } | null;
  accel: string;
  /** The guest clock (absent when the guest did not boot). */
  clock?: GuestClock;
  bootMs: number;
  /** test_hmm.ko: loaded with DEVICE_COHERENT ranges, or why not. */
  testHmm: string;
  /** The guest's vCPUs. */
  cpus: number;
  /** The swap device the suites ran with, or why there was none. */
  swap: string;
  suites: SuiteReport[];
}

export interface RunOptions {
  kernel: KernelSeries;
  suites?: readonly SelftestSuite[];
  /** Runs of every suite, one after the other in the same guest (flaky cases). */
  repeat?: number;
  vm?: Partial<VmOptions>;
  /** Called before and after each suite run. */
  onProgress?: (msg: string) => void;
  /** Called with the booted guest (e.g. to kill it on abort). */
  onVm?: (vm: Vm) => void;
}

/**
 * Loads test_hmm.ko with two 256 MiB DEVICE_COHERENT ranges in the VM's
 * memmap= reserved range: the build's module, or another build of it at
 * `modulePath` in the guest (scripts/test-hmm-patched.sh's, with our fixes).
 */
export async function loadTestHmm(vm: Vm, build: SelftestsBuild, modulePath = `${GUEST_DIR}/modules/test_hmm.ko`): Promise<string> {
  if (build.manifest.testHmm !== true) return `test_hmm.ko not built: ${build.manifest.testHmm}`;
  if (vm.iomem.size < 2n * TEST_HMM_CHUNK) return `test_hmm.ko needs 512 MiB of reserved memory for DEVICE_COHERENT, the VM has ${vm.iomem.size >> 20n} MiB`;
  const dev0 = vm.iomem.base;
  const dev1 = vm.iomem.base + TEST_HMM_CHUNK;
  const r = await vm.exec('insmod', [modulePath, `spm_addr_dev0=${dev0}`, `spm_addr_dev1=${dev1}`]);
  if (r.status !== 0) {
    throw Object.assign(new Error(`insmod ${modulePath} spm_addr_dev0=0x${dev0.toString(16)} spm_addr_dev1=0x${dev1.toString(16)} failed (${r.status}): ${r.stderr.trim()}`), {
      code: 'ERR_SELFTESTS_TEST_HMM',
      args: { spm_addr_dev0: dev0, spm_addr_dev1: dev1 },
    });
  }
  return `loaded, DEVICE_COHERENT at 0x${dev0.toString(16)} and 0x${dev1.toString(16)} (256 MiB each)`;
}

/** A brd ram disk of SWAP_MIB as the guest's swap. */
async function swapOnRamDisk(vm: Vm): Promise<string> {
  await vm.loadModule('brd', { rd_nr: 1, rd_size: SWAP_MIB * 1024 });
  for (const [cmd, args] of [['mkswap', [SWAP_DEVICE]], ['swapon', [SWAP_DEVICE]]] as const) {
    const r = await vm.exec(cmd, [...args]);
    if (r.status !== 0) {
      throw Object.assign(new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr.trim()}`), { code: 'ERR_SELFTESTS_SWAP', args: { device: SWAP_DEVICE, sizeMiB: SWAP_MIB } });
    }
  }
  return `${SWAP_DEVICE} (brd), ${SWAP_MIB} MiB`;
}

/** Sets the suite's sysctls; returns what puts the previous values back. */
async function applySysctls(vm: Vm, suite: SelftestSuite): Promise<() => Promise<void>> {
  const previous: [string, string][] = [];
  const write = async (file: string, value: string): Promise<void> => {
    const r = await vm.exec('sh', ['-c', 'echo "$1" > "$2"', 'sh', value, file]);
    if (r.status !== 0) throw new Error(`${suite.name}: writing ${value} to ${file} failed: ${r.stderr.trim() || `exit status ${r.status}`}`);
  };
  for (const [name, value] of Object.entries(suite.sysctls ?? {})) {
    const file = `/proc/sys/${name}`;
    const r = await vm.exec('cat', [file]);
    if (r.status !== 0) throw new Error(`${suite.name}: reading ${file} failed: ${r.stderr.trim() || `exit status ${r.status}`}`);
    previous.push([file, r.stdout.trim()]);
    await write(file, value);
  }
  return async () => {
    for (const [file, value] of previous.reverse()) await write(file, value);
  };
}

/**
 * Runs a suite binary in /tmp under busybox `timeout -s KILL`, in a session
 * of its own, its output into files, and once it has ended kills whatever it
 * left in that session. A test that dies without reaping its helpers leaves
 * them behind: 6.1's migration `shared_anon` fails an ASSERT while its
 * forked accessors spin on, and with stdout on our pipe they kept it open,
 * so the request never ended and every suite after it was lost.
 */
function execContained(vm: Vm, limitS: number, bin: string, args: readonly string[]): Promise<ExecResult> {
  const script = [
    'out=/tmp/.suite-out err=/tmp/.suite-err',
    // In a non-interactive shell a background job is no group leader, so
    // busybox setsid starts the session in that same process: $! leads it.
    'setsid timeout -s KILL "$0" "$@" >"$out" 2>"$err" &',
    'pid=$!',
    'wait "$pid"; status=$?',
    'kill -s KILL "-$pid" 2>/dev/null',
    'cat "$out"; cat "$err" >&2; rm -f "$out" "$err"',
    'exit "$status"',
  ].join('\n');
  return vm.exec('sh', ['-c', script, String(limitS), bin, ...args], { cwd: '/tmp', timeoutMs: (limitS + 60) * 1000 });
}

export async function runSuite(vm: Vm, suite: SelftestSuite, binary: string): Promise<SuiteRunResult> {
  const t0 = Date.now();
  // busybox timeout kills the suite in the guest; the request limit is a
  // backstop for a guest that stops answering altogether.
  const r = await execContained(vm, suite.limitS, `${GUEST_DIR}/bin/${binary}`, suite.args);
  const durationMs = Date.now() - t0;
  const timedOut = r.status === 137 && durationMs >= suite.limitS * 1000;
  const { parsed, cases: raw } = suiteCases(suite.name, { status: r.status, timedOut, limitS: suite.limitS, stdout: r.stdout, stderr: r.stderr });
  const cases = suite.caseName ? raw.map((c) => ({ ...c, name: suite.caseName!(c.name) })) : raw;
  return { cases, format: parsed.format, exitStatus: r.status, timedOut, durationMs, output: r.stderr ? `${r.stdout}\n--- stderr ---\n${r.stderr}` : r.stdout };
}

/**
 * A suite with `eachCase`: every case of its variants alone (`-r name`), on a
 * test_hmm.ko loaded afresh, so that one case's device state (a full free
 * list, a failed chunk) is not the next one's. A console line matching the
 * suite's known WARN fails that case instead of the guest run.
 */
async function runSuiteEachCase(vm: Vm, build: SelftestsBuild, suite: SelftestSuite, binary: string): Promise<SuiteRunResult> {
  const each = suite.eachCase!;
  const t0 = Date.now();
  const bin = `${GUEST_DIR}/bin/${binary}`;
  const list = await vm.exec(bin, ['-l']);
  const names = parseHarnessList(`${list.stdout}\n${list.stderr}`).filter((n) => {
    const [, variant, test] = n.split('.');
    return each.variants.includes(variant) && !(test in (each.exclude ?? {}));
  });
  if (!names.length) throw new Error(`${suite.name}: ${binary} -l lists no case of ${each.variants.join(', ')} (status ${list.status}): ${list.stderr.trim()}`);
  const cases: CaseResult[] = [];
  const outputs: string[] = [];
  let exitStatus = 0;
  let timedOut = false;
  for (const name of names) {
    if (suite.testHmm) {
      await vm.unloadModule('test_hmm');
      await loadTestHmm(vm, build);
    }
    const c0 = Date.now();
    const { value: r, lines } = await vm.allowing(each.knownWarning ? [each.knownWarning.re] : [], () =>
      execContained(vm, suite.limitS, bin, ['-r', name]),
    );
    const caseTimedOut = r.status === 137 && Date.now() - c0 >= suite.limitS * 1000;
    const parsed = suiteCases(name, { status: r.status, timedOut: caseTimedOut, limitS: suite.limitS, stdout: r.stdout, stderr: r.stderr }).cases;
    if (lines.length) {
      // The harness may still count the case a pass (the failed chunk is
      // only a failed allocation to it); a case that made the kernel WARN
      // does not pass.
      const reason = `kernel WARN: ${lines[0].replace(/^\[[ \d.]+\]\s*/, '')} (${each.knownWarning!.why})`;
      const own = parsed.filter((c) => c.name === name);
      cases.push(...parsed.filter((c) => c.name !== name), { name, outcome: 'fail', reason: own[0]?.reason ? `${reason}; ${own[0].reason}` : reason });
    } else {
      cases.push(...parsed);
    }
    outputs.push(`### ${name}\n${r.stdout}${r.stderr ? `\n--- stderr ---\n${r.stderr}` : ''}${lines.length ? `\n--- known WARN ---\n${lines.join('\n')}` : ''}`);
    if (r.status !== 0 && exitStatus === 0) exitStatus = r.status;
    timedOut ||= caseTimedOut;
  }
  return { cases, format: 'ktap', exitStatus, timedOut, durationMs: Date.now() - t0, output: outputs.join('\n') };
}

/** How much longer each suite may run on a debug-flavour kernel than its limit (suites.ts). */
export const DEBUG_LIMIT_SCALE = 4;

/**
 * Boots a guest of `kernel` with its selftests build, runs the suites
 * (`repeat` times each) and closes it; a guest crash (WARN, Oops...) rejects
 * with the Vm's error, naming the suite that was running.
 */
export async function runSelftests(opts: RunOptions): Promise<SelftestsRun> {
  const suites = opts.suites ?? DEFAULT_SELFTEST_SUITES;
  const repeat = opts.repeat ?? 1;
  const progress = opts.onProgress ?? (() => {});
  const found = selftestsBuild(opts.kernel);
  if ('missing' in found) {
    return { kernel: opts.kernel, release: '', source: null, accel: '', bootMs: NaN, testHmm: found.missing, cpus: 0, swap: found.missing, suites: suites.map((s) => ({ suite: s.name, binary: null, args: s.args, skipped: found.missing, runs: [] })) };
  }
  const build = found;
  // A debug kernel (KASAN, lockdep) under TCG runs the suites 3 to 30 times
  // slower than our test kernel: its limits are scaled, so that a suite is
  // ended by a hang rather than by the checkers' cost.
  const scale = builtKernel(opts.kernel)?.flavour === 'debug' ? DEBUG_LIMIT_SCALE : 1;
  const plan = suites.map((s) => ({ suite: scale === 1 ? s : { ...s, limitS: s.limitS * scale }, bin: suiteBinary(build, s) }));
  const archive = selftestsArchive(opts.kernel, build);
  const cpus = opts.vm?.cpus ?? SELFTESTS_CPUS;
  const vm = await Vm.boot({ kernel: opts.kernel, ...opts.vm, cpus, extraInitrd: [archive] });
  opts.onVm?.(vm);
  let running = '(setup)';
  try {
    const needsHmm = plan.some((p) => p.suite.testHmm && 'binary' in p.bin);
    const testHmm = needsHmm ? await loadTestHmm(vm, build) : 'not needed';
    const hmmLoaded = testHmm.startsWith('loaded');
    const swap = await swapOnRamDisk(vm);
    const reports: SuiteReport[] = plan.map(({ suite, bin }) => {
      const r: SuiteReport = { suite: suite.name, binary: 'binary' in bin ? bin.binary : null, args: suite.args, runs: [] };
      if ('skip' in bin) r.skipped = bin.skip;
      else if (suite.testHmm && !hmmLoaded) r.skipped = testHmm;
      return r;
    });
    for (let i = 0; i < repeat; i++) {
      for (const [k, { suite }] of plan.entries()) {
        const rep = reports[k];
        if (rep.skipped !== undefined) continue;
        running = `${suite.name} (run ${i + 1} of ${repeat})`;
        progress(`${opts.kernel}: ${running}`);
        const restore = await applySysctls(vm, suite);
        const r = suite.eachCase ? await runSuiteEachCase(vm, build, suite, rep.binary!) : await runSuite(vm, suite, rep.binary!);
        await restore();
        rep.runs.push(r);
        const n = r.cases.reduce((a, c) => ((a[c.outcome] = (a[c.outcome] ?? 0) + 1), a), {} as Record<string, number>);
        progress(`${opts.kernel}: ${suite.name}: ${Object.entries(n).map(([o, c]) => `${c} ${o}`).join(', ') || 'no cases'} in ${(r.durationMs / 1000).toFixed(1)} s`);
      }
    }
    running = '(shutdown)';
    await vm.close();
    return {
      kernel: opts.kernel,
      release: vm.release,
      source: { package: build.manifest.source.package, version: build.manifest.source.version },
      accel: vm.accel,
      clock: vm.clock,
      bootMs: vm.bootMs,
      testHmm,
      cpus,
      swap,
      suites: reports,
    };
  } catch (e) {
    await vm.kill();
    const err = e as Error;
    err.message = `selftests on ${opts.kernel}: guest run failed during ${running}: ${err.message}`;
    throw err;
  }
}
