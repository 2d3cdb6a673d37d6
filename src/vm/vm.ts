// QEMU guest runner: boots a Debian kernel with our initramfs, talks JSON-RPC
// to the guest agent over virtio-serial, streams the console, and fails the
// run on any kernel crash report. No QEMU process outlives its Vm: close(),
// timeouts, host exit and host signals all kill it, and QEMU runs under
// setpriv --pdeathsig KILL so even a SIGKILLed host takes it down.
import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { decode, frame, LineSplitter } from './codec.js';
import { matchCrash, VmCrashError, VmExitError, VmTimeoutError } from './crash.js';
import { ensureInitramfs } from './initramfs.js';
import { builtKernel, findOnPath, kernelConfig, kernelInfo, type KernelSeries } from './kernels.js';
import { judgeKmemleak, type KmemleakVerdict } from './kmemleak.js';
import { cachedKvmVerdict, kvmDeviceOpens, recordKvmVerdict } from './kvm.js';
import { RPC_PORT_NAME } from './constants.js';
import {
  discardSnapshot,
  type GuestRam,
  type SavedPaths,
  INITRD_PLACEHOLDER,
  logGuestStart,
  publishSnapshot,
  pruneSnapshots,
  Qmp,
  RAM_PLACEHOLDER,
  RPC_SOCKET_PLACEHOLDER,
  SAVE_ARGS,
  saveSnapshot,
  snapshotKey,
  snapshotPaths,
  snapshotRefusal,
  stagingPaths,
  startIncoming,
  stateFileProblem,
  touchSnapshot,
} from './snapshot.js';
import type { GuestArgs, GuestFunctions, GuestModule, GuestResult } from './guest-module.js';
import { ramOverlayEnv } from './ram-overlay.js';

export type Accel = 'tcg' | 'kvm';

/**
 * The guest's clock. 'wall': TCG's clock follows the host's (the default),
 * so guest timings are host time spent emulating, and vary with host load.
 * 'icount': QEMU's instruction counter drives the guest clock, one guest
 * instruction per nanosecond (see icountArgs), so guest timings count
 * instructions and are the same from run to run whatever the host does.
 */
export type GuestClock = 'wall' | 'icount';
export const GUEST_CLOCKS: readonly GuestClock[] = ['wall', 'icount'];

/**
 * QEMU arguments for a guest clock. shift=0: every instruction advances the
 * virtual clock by 2^0 = 1 ns, fixed (not 'auto', which adjusts the rate to
 * the host's speed). sleep=off: an idle vCPU does not wait for host time;
 * the virtual clock jumps to the next timer deadline at once (QEMU's
 * icount_start_warp_timer), so idle periods do not depend on the host either.
 * align stays off (its default): align=on slows the guest down to real time,
 * which is the host dependence icount is here to remove, and QEMU refuses
 * align=on together with sleep=off.
 * icount needs single-threaded TCG (QEMU refuses it with thread=multi) and
 * does not exist under KVM: both are refused here with a clear error
 * rather than left to QEMU's exit at boot.
 */
export function icountArgs(clock: GuestClock, accel: Accel, tcgThread: string | undefined): string[] {
  if (clock === 'wall') return [];
  if (clock !== 'icount') throw new RangeError(`unknown guest clock ${JSON.stringify(clock)} (one of: ${GUEST_CLOCKS.join(', ')})`);
  if (accel === 'kvm') throw new GuestClockError('guest clock icount needs TCG: KVM runs guest instructions on the host CPU, which QEMU cannot count (use --guest-clock wall, or MIRRORLAB_ACCEL=tcg)');
  if (tcgThread === 'multi') throw new GuestClockError('guest clock icount needs single-threaded TCG: unset MIRRORLAB_TCG_THREAD=multi, or use --guest-clock wall');
  return ['-icount', 'shift=0,sleep=off'];
}

/**
 * Boot limit of an icount guest: TCG with -icount took 3 to 4 times the host
 * time of a wall-clock boot to reach our module loaded (7.2: 49 to 97 s
 * against 11 to 35 s, at load 5 to 20 on 2 cores).
 */
export const ICOUNT_BOOT_TIMEOUT_MS = 300_000;
/**
 * A cold boot of our debug kernels (KASAN, lockdep) takes about 110 s to
 * agent ready under TCG on a quiet 2-core host, and more beside other work:
 * 120 s, the others' limit, is too close.
 */
const DEBUG_BOOT_TIMEOUT_MS = 600_000;

/** A guest clock this guest cannot have (icount under KVM or multi-threaded TCG). */
export class GuestClockError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'GuestClockError';
  }
}

export interface VmOptions {
  /** Kernel series from the cache (scripts/kernel-series): '6.1', '6.12' or '7.2'. */
  kernel: KernelSeries;
  /** Project (or in-tree) modules to load once the agent is up. */
  modules?: string[];
  /** Memory the guest kernel manages, MiB (default 4096), split over two NUMA nodes. */
  memoryMiB?: number;
  /** Physical range reserved with memmap= for device-memory tests, MiB (default 1024). */
  iomemMiB?: number;
  /** vCPUs (default 2), one per NUMA node half. */
  cpus?: number;
  /** 2 MiB hugetlb pages reserved at boot (default 64). */
  hugepages2M?: number;
  /** 1 GiB hugetlb pages reserved at boot (default 1). */
  hugepages1G?: number;
  /** Transparent huge pages mode set by /init (default 'madvise'). */
  thp?: 'always' | 'madvise' | 'never';
  /** Boot-to-agent-ready limit (default 120 s; 300 s with clock 'icount', see ICOUNT_BOOT_TIMEOUT_MS). */
  timeoutMs?: number;
  /** Default limit for each request (default 120 s); a guest that does not answer in time is killed. */
  callTimeoutMs?: number;
  /** 'auto' (default, or $MIRRORLAB_ACCEL): KVM only where a KVM boot was proven to work. */
  accel?: Accel | 'auto';
  /** The guest clock (default 'wall'); 'icount' needs TCG, single-threaded (see GuestClock). */
  clock?: GuestClock;
  /**
   * cpio archives appended to the initramfs (the kernel unpacks concatenated
   * archives into the same root), e.g. the kernel's own selftests.
   */
  extraInitrd?: string[];
  /** Extra kernel command-line words. */
  cmdline?: string[];
  /** Copy every console line to this function as it arrives (e.g. the CLI's stderr). */
  onConsole?: (line: string) => void;
  /** Build status messages (initramfs, accel probe, snapshots). */
  onStatus?: (msg: string) => void;
  /**
   * Start from the saved state of a guest of the same shape when there is
   * one, else cold boot and save one (default true; $MIRRORLAB_SNAPSHOT=0
   * turns it off too). See src/vm/snapshot.ts.
   */
  snapshot?: boolean;
  /**
   * On a kernel with kmemleak (our debug kernels), scan when the guest closes
   * and fail the run (VmCrashError 'kmemleak') for any unreferenced object
   * our modules allocated (default true). See src/vm/kmemleak.ts.
   */
  kmemleakScan?: boolean;
}

/** How long a restore may take before the state file is judged bad (a cold boot takes 4-5 s). */
const RESTORE_TIMEOUT_MS = 30_000;

export interface LogLine {
  /** ms since the Vm was created */
  t: number;
  text: string;
}

export interface ExecResult {
  status: number;
  signal: string | null;
  stdout: string;
  stderr: string;
}

export interface ExecOptions {
  input?: string | Uint8Array;
  cwd?: string;
  env?: Record<string, string>;
  timeoutMs?: number;
}

/** The guest console: every line kept, streamed as events and async iteration. */
export class ConsoleLog extends EventEmitter {
  readonly lines: LogLine[] = [];
  private ended = false;
  push(l: LogLine): void {
    this.lines.push(l);
    this.emit('line', l);
  }
  end(): void {
    this.ended = true;
    this.emit('end');
  }
  get text(): string {
    return this.lines.map((l) => l.text).join('\n');
  }
  /** Lines from index `from` on (see `mark`). */
  since(from: number): string {
    return this.lines.slice(from).map((l) => l.text).join('\n');
  }
  get mark(): number {
    return this.lines.length;
  }
  tail(n = 40): string {
    return this.lines.slice(-n).map((l) => l.text).join('\n');
  }
  /** Resolves with the first line (from `from`, default now) matching re. */
  waitFor(re: RegExp, timeoutMs = 30_000, from = this.lines.length): Promise<LogLine> {
    for (let i = from; i < this.lines.length; i++) if (re.test(this.lines[i].text)) return Promise.resolve(this.lines[i]);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`console: no line matching ${re} within ${timeoutMs} ms`));
      }, timeoutMs);
      const onLine = (l: LogLine): void => {
        if (re.test(l.text)) {
          cleanup();
          resolve(l);
        }
      };
      const onEnd = (): void => {
        cleanup();
        reject(new Error(`console ended before a line matching ${re}`));
      };
      const cleanup = (): void => {
        clearTimeout(timer);
        this.off('line', onLine);
        this.off('end', onEnd);
      };
      this.on('line', onLine);
      this.once('end', onEnd);
    });
  }
  /** All lines from the first one on, then live lines until the guest is gone. */
  async *[Symbol.asyncIterator](): AsyncIterator<LogLine> {
    let i = 0;
    for (;;) {
      while (i < this.lines.length) yield this.lines[i++];
      if (this.ended) return;
      await new Promise<void>((r) => {
        const done = (): void => {
          this.off('line', done);
          this.off('end', done);
          r();
        };
        this.on('line', done);
        this.on('end', done);
      });
    }
  }
}

// Every QEMU we started, killed on the way out whatever the way out is.
const live = new Set<ChildProcess>();
let hooksInstalled = false;
function killAll(): void {
  for (const c of live) {
    try {
      c.kill('SIGKILL');
    } catch {
      /* already gone */
    }
  }
}
function installExitHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  process.on('exit', killAll);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const h = (): void => {
      killAll();
      // Keep the default behaviour (exit on the signal) when nobody else handles it.
      if (process.listenerCount(sig) === 1) {
        process.off(sig, h);
        process.kill(process.pid, sig);
      }
    };
    process.on(sig, h);
  }
}

/**
 * Guest RAM layout of the pc machine: with 3.5 GiB or more, RAM is [0, 3 GiB)
 * plus [4 GiB, ...), split in two equal NUMA nodes. The reserved
 * device-memory range sits at the top of RAM, 1 GiB aligned. The 1 GiB
 * hugetlb page is allocated at boot (later no free aligned GiB is left) from
 * [1 GiB, 2 GiB): nokaslr keeps the kernel below it, and SeaBIOS loads the
 * initrd just under 3 GiB (see biosArgs about qboot).
 */
export const LOW_RAM_MIB = 3072;
export function guestLayout(memoryMiB: number, iomemMiB: number): { totalMiB: number; iomemBase: bigint; iomemSize: bigint } {
  const totalMiB = memoryMiB + iomemMiB;
  const MiB = 1n << 20n;
  if (memoryMiB < 2048) throw new RangeError(`memoryMiB ${memoryMiB}: at least 2048`);
  if (iomemMiB === 0) return { totalMiB, iomemBase: 0n, iomemSize: 0n };
  if (totalMiB < LOW_RAM_MIB + 512) {
    throw new RangeError(`memoryMiB ${memoryMiB} + iomemMiB ${iomemMiB}: the iomem range needs a total of at least ${LOW_RAM_MIB + 512} MiB`);
  }
  const lowMiB = LOW_RAM_MIB;
  const highMiB = totalMiB - lowMiB;
  if (highMiB - iomemMiB < 256) throw new RangeError(`iomemMiB ${iomemMiB}: node 1 needs RAM of its own above 4 GiB`);
  const top = 4096n * MiB + BigInt(highMiB) * MiB;
  const size = BigInt(iomemMiB) * MiB;
  const align = size >= 1024n * MiB ? 1024n * MiB : size; // 1 GiB aligned where 1 GiB entries may be used
  const base = ((top - size) / align) * align;
  if (base < 4096n * MiB) throw new RangeError(`iomem range does not fit above 4 GiB`);
  return { totalMiB, iomemBase: base, iomemSize: size };
}

/**
 * QEMU's CPU model for TCG guests (the runner's, and a lab's jobs from
 * mirrorlab lava): everything TCG emulates, less ERMS and FSRM. With either
 * bit the kernel copies and clears with `rep movsb`/`rep stosb`
 * (copy_user_generic, memcpy, clear_page_erms), and glibc's memcpy and
 * memset take the same instructions for large sizes; QEMU 7.2's TCG runs such
 * a string instruction one byte per iteration. Without them the kernel takes
 * `rep movsq` and unrolled 8-byte loops. Measured on 7.2 (2 CPUs, TCG): the
 * fakevram ACCESS ioctl moved 1 GiB in 3.2 s with the bits and 0.33 s without;
 * fakevram-test -s 1G took 37 s and 8.5 s; the mirrordrm and storms test files
 * together took 78 CPU-s and 56-63. KVM guests get the host's CPU.
 */
export const TCG_CPU_MODEL = 'max,-erms,-fsrm';

/**
 * Kernel command-line words of every guest boot (the runner's, and a lab's
 * jobs from mirrorlab lava), each with its reason.
 */
export const BASE_CMDLINE: readonly string[] = [
  'console=ttyS0',
  'loglevel=5', // KERN_WARNING and worse reach the console (WARN, lockdep, hung task, ...)
  'panic=-1', // a panic reboots at once, and -no-reboot turns that into QEMU's exit
  'panic_on_warn=0', // WARNs are reported and fail the run, but the guest lives to print them
  'nokaslr', // a fixed kernel placement: reproducible addresses in reports
  'rcupdate.rcu_cpu_stall_timeout=60', // the host is shared: starved vCPUs are not stalls
  'watchdog_thresh=30',
  // TCG's TSCs look unsynchronized to the kernel, which then falls back to
  // HPET: every clock read becomes an emulated MMIO access and the vDSO
  // stops helping. Fault-timing code in the guest needs the TSC.
  'tsc=reliable',
  // check_timer() counts timer ticks during a busy-wait; a vCPU starved by
  // a loaded host counts too few and the kernel panics ("IO-APIC + timer
  // doesn't work!", seen booting 6.1 at load 7). QEMU's routing is known good.
  'no_timer_check',
  'cryptomgr.notests', // crypto self-tests cost boot time and test nothing of ours
  // Automatic NUMA balancing (on by default in Debian's kernels, and the
  // guest has two nodes) makes PTEs PROT_NONE from task_numa_work at
  // moments no test chose: a mirror then gets PROTECTION_VMA records
  // between any two syscalls. Off at boot; the cases that study it switch
  // it on (mirrordrm numa-hinting).
  'numa_balancing=disable',
  'i8042.noaux=1',
  'i8042.nokbd=1',
];

/**
 * Command-line words a kernel needs beyond BASE_CMDLINE, each with its reason.
 *
 * Our debug kernels boot with 4-level paging (no5lvl). With 5-level paging
 * (QEMU's -cpu max has LA57) KASAN reports a wild-memory-access at boot, now
 * and then: identify_cpu() zeroes boot_cpu_data's capability bits before it
 * reads them again, an interrupt in that window takes a lock in the direct
 * map (0xff11...), and KASAN's addr_has_metadata(), through
 * pgtable_l5_enabled() = cpu_feature_enabled(X86_FEATURE_LA57) read as
 * false, places the start of the shadowed range at 4-level paging's
 * 0xffff8000... (docs/kernel-builds.md, "Found on the debug kernel").
 */
export function kernelCmdline(kernel: KernelSeries): string[] {
  return builtKernel(kernel)?.flavour === 'debug' ? ['no5lvl'] : [];
}

let nextVmId = 0;

export class Vm {
  readonly kernel: KernelSeries;
  readonly release: string;
  readonly accel: Accel;
  /** The clock the guest runs on: guest timings are host time ('wall') or instruction counts ('icount'). */
  readonly clock: GuestClock;
  /** QEMU's -cpu model: TCG_CPU_MODEL, or 'host' under KVM. */
  readonly cpuModel: string;
  readonly log = new ConsoleLog();
  /** Reserved physical range (memmap=) for device-memory tests. */
  readonly iomem: { base: bigint; size: bigint };
  readonly cmdline: string;
  /**
   * Milliseconds from QEMU start to the agent's ready message, or, for a
   * restored guest, to the agent's answer after the restore (bootPhases.restoreMs).
   */
  bootMs = NaN;
  /**
   * Where bootMs went. Cold boot: firmware and image loading (QEMU start to
   * kernel entry), kernel (entry to /init starting the agent, by the guest's
   * clock), agent (node start to ready). Restored: restoreMs only (QEMU start
   * to the agent's answer, the guest's wall clock set), the others NaN.
   */
  bootPhases = { firmwareMs: NaN, kernelMs: NaN, agentMs: NaN, restoreMs: NaN };
  /** Whether this guest started from a saved state rather than a cold boot. */
  restored = false;
  /**
   * How the guest started, in words, for status lines: "restored from
   * snapshot 1a2b3c4d in 640 ms" or "cold boot in 4810 ms (why no snapshot)".
   */
  startNote = '';
  /** A restored guest's RAM overlay (ram-overlay.ts): "RAM holes anonymous", or why not; null for a cold boot. */
  ramOverlay: string | null = null;
  /** The key of the saved state this guest started from (or saved), null when none. */
  snapshotKey: string | null = null;
  /** Set when this run made the state file it was restored from: its cold boot and the save. */
  snapshotSaved: { coldBootMs: number; saveMs: number; stateBytes: number; ramBytes: number } | null = null;
  private spawnAt = 0;
  /** The guest's exit status (the agent's) once it shut down, else null. */
  exitStatus: number | null = null;
  /** QEMU's own exit code or signal once it exited. */
  qemuExit: { code: number | null; signal: string | null } | null = null;

  private child: ChildProcess | null = null;
  private sock: net.Socket | null = null;
  private server: net.Server | null = null;
  private tmp: string;
  private pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }>();
  private nextId = 1;
  private failure: Error | null = null;
  private crashCollect: { kind: string; start: number; timer: NodeJS.Timeout } | null = null;
  /** Crash-pattern lines a caller of allowing() expects, collected instead of failing the run. */
  private allowed: { patterns: RegExp[]; lines: string[] } | null = null;
  private readyWaiters: { resolve: () => void; reject: (e: Error) => void } | null = null;
  private initrdPath = '';
  /** Guest RAM in files (a guest to be saved, or a restored one); in anonymous memory when unset. */
  private ram: GuestRam | undefined;
  private qmpPath: string;
  private exited: Promise<void>;
  private markExited!: () => void;
  private closed = false;
  private readonly t0 = Date.now();
  private readonly callTimeoutMs: number;
  private syncSeq = 0;
  /** What the closing kmemleak scan found (kernels with kmemleak only). */
  kmemleak: KmemleakVerdict | null = null;

  private constructor(
    private readonly opts: VmOptions,
    accel: Accel,
  ) {
    const k = kernelInfo(opts.kernel);
    this.kernel = opts.kernel;
    this.release = k.release;
    this.accel = accel;
    this.clock = opts.clock ?? 'wall';
    this.cpuModel = accel === 'kvm' ? 'host' : TCG_CPU_MODEL;
    // Refused before anything is created: a clock this guest cannot have is the caller's mistake.
    icountArgs(this.clock, accel, process.env.MIRRORLAB_TCG_THREAD);
    this.callTimeoutMs = opts.callTimeoutMs ?? 120_000;
    const layout = guestLayout(opts.memoryMiB ?? 4096, opts.iomemMiB ?? 1024);
    this.iomem = { base: layout.iomemBase, size: layout.iomemSize };
    const words = [
      ...BASE_CMDLINE,
      ...kernelCmdline(opts.kernel),
      // 1 GiB pages only at boot (later, no free aligned GiB is left); /init sets the 2 MiB pool.
      ...((opts.hugepages1G ?? 1) > 0 ? [`hugepagesz=1G hugepages=${opts.hugepages1G ?? 1}`] : []),
      `mirrorlab.hugepages2m=${opts.hugepages2M ?? 64}`,
      `mirrorlab.thp=${opts.thp ?? 'madvise'}`,
    ];
    if (layout.iomemSize > 0n) words.push(`memmap=${opts.iomemMiB ?? 1024}M$0x${layout.iomemBase.toString(16)}`);
    words.push(...(opts.cmdline ?? []));
    this.cmdline = words.join(' ');
    this.tmp = fs.mkdtempSync(path.join(os.tmpdir(), `mirrorlab-vm-${process.pid}-${nextVmId++}-`));
    this.qmpPath = path.join(this.tmp, 'qmp.sock');
    this.exited = new Promise((r) => (this.markExited = r));
  }

  /**
   * Starts a guest and resolves once the agent answers (and requested
   * modules are loaded): restored from the saved state of its shape, or
   * cold booted (see startGuest).
   */
  static async boot(opts: VmOptions): Promise<Vm> {
    const accel = await resolveAccel(opts);
    const vm = await Vm.startGuest(opts, accel);
    logGuestStart({ kernel: vm.kernel, key: vm.snapshotKey, restored: vm.restored, bootMs: vm.bootMs, note: vm.startNote, label: process.env.MIRRORLAB_BOOT_LOG_LABEL });
    try {
      for (const m of opts.modules ?? []) await vm.loadModule(m);
    } catch (e) {
      await vm.kill();
      throw e;
    }
    return vm;
  }

  /**
   * A guest with a ready agent and no module loaded. With a saved state for
   * its shape: restored from it. Without one, or when the restore fails
   * (the state is then removed): a cold boot saved as the new state, and the
   * guest restored from that, so that every guest of a shape starts from the
   * same state. A guest that cannot be saved or restored is a cold boot.
   */
  private static async startGuest(opts: VmOptions, accel: Accel): Promise<Vm> {
    const status = opts.onStatus ?? (() => {});
    const coldBoot = async (why: string, ram?: GuestRam): Promise<Vm> => {
      const vm = new Vm(opts, accel);
      vm.ram = ram;
      try {
        await vm.prepareInitrd();
        await vm.start(null);
      } catch (e) {
        await vm.kill();
        throw e;
      }
      vm.startNote = `cold boot in ${vm.bootMs} ms (${why})`;
      return vm;
    };
    const refusal = snapshotRefusal(opts.snapshot, accel, opts.clock ?? 'wall');
    if (refusal) return coldBoot(refusal);

    const first = new Vm(opts, accel);
    let key: string;
    try {
      await first.prepareInitrd();
      key = first.stateKey();
    } catch (e) {
      await first.kill();
      const why = `no snapshot: ${firstLine(e)}`;
      status(why);
      return coldBoot(why);
    }
    const saved = snapshotPaths(first.kernel, key);
    const short = key.slice(0, 12);
    let why = `no snapshot for this guest shape (key ${short})`;
    if (fs.existsSync(saved.state)) {
      const failed = await first.restoreFrom(saved, key);
      if (failed === null) return first;
      why = `snapshot ${short} did not restore (${failed}): removed`;
    } else {
      await first.kill();
    }

    // Cold boot with RAM in files, save, restore what was saved.
    status(`${why}; cold boot, then saving the state`);
    const staging = stagingPaths(first.kernel, key);
    let booter: Vm;
    try {
      booter = await coldBoot(why, { files: staging.ram, share: true });
    } catch (e) {
      fs.rmSync(staging.dir, { recursive: true, force: true });
      throw e;
    }
    let result: Awaited<ReturnType<typeof saveSnapshot>>;
    try {
      result = await saveSnapshot(booter.qmpPath, staging);
      await booter.kill();
      fs.writeFileSync(staging.console, booter.log.text + '\n');
      publishSnapshot(staging.dir, saved.dir);
    } catch (e) {
      await booter.kill();
      fs.rmSync(staging.dir, { recursive: true, force: true });
      status(`saving snapshot ${short} failed (${firstLine(e)}); cold boot`);
      return coldBoot(`saving snapshot ${short} failed: ${firstLine(e)}`);
    }
    const mib = (n: number): string => (n / 2 ** 20).toFixed(0);
    status(`snapshot ${short} saved in ${result.ms} ms: state ${mib(result.stateBytes)} MiB, RAM files ${mib(result.ramBytes)} MiB on disk`);
    pruneSnapshots(booter.kernel);
    const vm = new Vm(opts, accel);
    await vm.prepareInitrd();
    const failed = await vm.restoreFrom(saved, key);
    if (failed !== null) {
      status(`snapshot ${short} just saved did not restore (${failed}): removed; cold boot`);
      return coldBoot(`snapshot ${short} just saved did not restore: ${failed}`);
    }
    vm.snapshotSaved = { coldBootMs: booter.bootMs, saveMs: result.ms, stateBytes: result.stateBytes, ramBytes: result.ramBytes };
    vm.startNote += ` (saved after a cold boot of ${booter.bootMs} ms: ${why})`;
    return vm;
  }

  /** The initrd QEMU loads: our initramfs, with extraInitrd appended in a copy of it. */
  private async prepareInitrd(): Promise<void> {
    const initrd = ensureInitramfs(this.kernel, this.opts.onStatus ?? (() => {}));
    // QEMU takes one -initrd file: the archives one after the other.
    this.initrdPath = initrd.path;
    this.initrdParts = [initrd.path, ...(this.opts.extraInitrd ?? [])];
    if (this.opts.extraInitrd?.length) {
      this.initrdPath = path.join(this.tmp, 'initrd.cpio');
      await fs.promises.copyFile(initrd.path, this.initrdPath);
      for (const extra of this.opts.extraInitrd) await fs.promises.appendFile(this.initrdPath, await fs.promises.readFile(extra));
    }
  }

  private initrdParts: string[] = [];

  /** The content hash of this guest's shape (snapshot.ts): QEMU, its argv, kernel and initrd bytes. */
  private stateKey(): string {
    return snapshotKey({
      series: this.kernel,
      qemu: qemuBinary(),
      argv: this.qemuArgs(INITRD_PLACEHOLDER, RPC_SOCKET_PLACEHOLDER, RAM_PLACEHOLDER),
      initrdParts: this.initrdParts,
    });
  }

  /**
   * Starts QEMU on a saved state and waits for the agent to answer a ping,
   * then sets the guest's wall clock from the host's. Null when the guest is
   * ready; else why not, with QEMU killed and the state removed.
   */
  private async restoreFrom(saved: SavedPaths, key: string): Promise<string | null> {
    const ino = fs.statSync(saved.state, { bigint: true, throwIfNoEntry: false })?.ino ?? null;
    touchSnapshot(saved.dir);
    this.ram = { files: saved.ram, share: false };
    // The log starts with the console of the boot that made the state (this
    // guest's past, crash-free or it would not have been saved), at t = 0.
    try {
      for (const text of fs.readFileSync(saved.console, 'utf8').replace(/\n$/, '').split('\n')) {
        this.log.push({ t: 0, text });
        this.opts.onConsole?.(text);
      }
    } catch {
      /* a state without its console: the log has this guest's lines only */
    }
    const notAState = stateFileProblem(saved.state);
    if (notAState) {
      discardSnapshot(saved.dir, ino);
      return notAState;
    }
    try {
      await this.start(saved.state);
      this.restored = true;
      this.snapshotKey = key;
      this.startNote = `restored from snapshot ${key.slice(0, 12)} in ${this.bootMs} ms (${this.ramOverlay})`;
      return null;
    } catch (e) {
      await this.kill();
      discardSnapshot(saved.dir, ino);
      // QEMU's own complaint ("load of migration failed: ...") says more than "exited".
      const qemuSaid = this.log.lines.filter((l) => l.text.startsWith('[qemu] ')).pop();
      return qemuSaid ? `${firstLine(e)}: ${qemuSaid.text.slice('[qemu] '.length)}` : firstLine(e);
    }
  }

  private qemuArgs(initrd: string, sockPath: string, ram = this.ram): string[] {
    const cpus = this.opts.cpus ?? 2;
    const { totalMiB } = guestLayout(this.opts.memoryMiB ?? 4096, this.opts.iomemMiB ?? 1024);
    const half = Math.floor(totalMiB / 2);
    const n0 = Math.max(1, Math.floor(cpus / 2));
    const cpuRange = (a: number, b: number): string => (a === b ? `${a}` : `${a}-${b}`);
    return [
      ...biosArgs(),
      '-machine', 'pc',
      // TCG runs both vCPUs in one thread unless MIRRORLAB_TCG_THREAD=multi: with
      // multi-threaded TCG on a loaded host, 6.12 once hit an int3 Oops at
      // boot (sched_clock_cpu, a static key patched by text_poke_bp), a vCPU
      // still running a stale translation of code another vCPU had patched.
      '-accel', this.accel === 'kvm' ? 'kvm' : `tcg,thread=${process.env.MIRRORLAB_TCG_THREAD === 'multi' ? 'multi' : 'single'}`,
      '-cpu', this.cpuModel,
      ...icountArgs(this.clock, this.accel, process.env.MIRRORLAB_TCG_THREAD),
      // One socket per vCPU: CPUs on different NUMA nodes must not share a last-level cache.
      '-smp', `${cpus},sockets=${cpus},cores=1,threads=1`,
      '-m', `${totalMiB}M`,
      '-object', ramBackend(0, half, ram),
      '-object', ramBackend(1, totalMiB - half, ram),
      '-numa', `node,nodeid=0,cpus=${cpuRange(0, n0 - 1)},memdev=mem0`,
      '-numa', `node,nodeid=1,cpus=${cpuRange(n0, cpus - 1)},memdev=mem1`,
      '-kernel', kernelImage(this.kernel),
      '-initrd', initrd,
      '-append', this.cmdline,
      '-nodefaults', '-no-user-config', '-display', 'none', '-monitor', 'none', '-no-reboot',
      '-serial', 'stdio',
      '-device', 'virtio-serial-pci,id=vser0',
      '-chardev', `socket,id=rpc,path=${sockPath}`,
      '-device', `virtserialport,bus=vser0.0,chardev=rpc,name=${RPC_PORT_NAME}`,
    ];
  }

  /**
   * Starts QEMU and waits for the agent: a cold boot's ready event, or, with
   * a state file (-incoming), the answer to a ping sent as soon as QEMU's RPC
   * socket connects (the guest reads it once the state is loaded and runs).
   * Everything else is as for a cold boot: the console, crash detection, a
   * QMP socket (snapshot.ts saves through it).
   */
  private async start(stateFile: string | null): Promise<void> {
    const sockPath = path.join(this.tmp, 'rpc.sock');
    this.server = net.createServer();
    const connected = new Promise<net.Socket>((resolve) => this.server!.once('connection', resolve));
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(sockPath, resolve);
    });

    const qemu = qemuBinary();
    const setpriv = findOnPath('setpriv');
    const argv = [...this.qemuArgs(this.initrdPath, sockPath), '-qmp', `unix:${this.qmpPath},server=on,wait=off`, ...SAVE_ARGS];
    if (stateFile) argv.push('-incoming', 'defer');
    const [cmd, args] = setpriv ? [setpriv, ['--pdeathsig', 'KILL', qemu, ...argv]] : [qemu, argv];
    installExitHooks();
    const t0 = Date.now();
    this.spawnAt = t0;
    // A restored guest maps its RAM files privately: the overlay backs their
    // holes with anonymous memory (ram-overlay.ts).
    const overlay = stateFile && this.ram && !this.ram.share ? ramOverlayEnv(this.ram.files) : null;
    this.ramOverlay = overlay?.note ?? null;
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], ...(overlay?.env ? { env: overlay.env } : {}) });
    this.child = child;
    live.add(child);
    const con = new LineSplitter((l) => this.onConsole(l.replace(/\r$/, '')));
    child.stdout!.on('data', (b: Buffer) => con.push(b));
    const errs = new LineSplitter((l) => this.onConsole(`[qemu] ${l}`));
    child.stderr!.on('data', (b: Buffer) => errs.push(b));
    child.stdin!.on('error', () => {});
    child.on('error', (e) => this.fail(new VmExitError(`cannot start QEMU: ${e.message}`, null, '')));
    child.on('exit', (code, signal) => {
      con.flush();
      errs.flush();
      live.delete(child);
      this.qemuExit = { code, signal };
      this.sock?.destroy();
      this.server?.close();
      this.log.end();
      if (!this.closed && !this.failure) {
        this.fail(
          new VmExitError(`QEMU exited unexpectedly (code ${code}, signal ${signal})`, code, this.log.tail(60)),
        );
      }
      this.markExited();
    });

    const timeoutMs = stateFile
      ? Math.min(RESTORE_TIMEOUT_MS, this.opts.timeoutMs ?? RESTORE_TIMEOUT_MS)
      : this.opts.timeoutMs ?? (this.clock === 'icount' ? ICOUNT_BOOT_TIMEOUT_MS : builtKernel(this.kernel)?.flavour === 'debug' ? DEBUG_BOOT_TIMEOUT_MS : 120_000);
    const ready = new Promise<void>((resolve, reject) => (this.readyWaiters = { resolve, reject }));
    const timer = setTimeout(() => {
      if (!stateFile) {
        this.fail(new VmTimeoutError(`guest ${this.kernel} did not become ready within ${timeoutMs} ms`, this.log.tail(60)));
        return;
      }
      // Where QEMU got to (still loading the state, or running a guest that
      // does not answer) says what is wrong with the file.
      void qmpRunState(this.qmpPath).then((state) => {
        this.fail(new VmTimeoutError(`guest ${this.kernel} restored from ${stateFile} did not answer within ${timeoutMs} ms (QEMU: ${state})`, this.log.tail(60)));
      });
    }, timeoutMs);
    // The state is loaded once its RAM capability is set, through QMP.
    if (stateFile) startIncoming(this.qmpPath, stateFile).catch((e: unknown) => this.fail(new VmExitError(`restoring ${stateFile}: ${firstLine(e)}`, null, this.log.tail(20))));
    try {
      const sock = await Promise.race([connected, ready.then(() => null as never)]);
      this.sock = sock;
      const rpc = new LineSplitter((l) => this.onRpc(l));
      sock.on('data', (b: Buffer) => rpc.push(b));
      sock.on('error', () => {});
      if (stateFile) {
        // The ready event went to the QEMU that saved the state: ask instead.
        // request() has its own timer; the one above covers it.
        const answered = Promise.race([this.request('ping', [], { timeoutMs: timeoutMs + 1_000 }), ready]);
        await answered;
        // The state's wall clock is as old as the file: set it from the host's.
        await Promise.race([this.request('setClock', [Date.now()], { timeoutMs: timeoutMs + 1_000 }), ready]);
        this.readyWaiters = null;
      } else {
        await ready;
      }
    } finally {
      clearTimeout(timer);
    }
    if (this.failure) throw this.failure;
    this.bootMs = Date.now() - t0;
    const p = this.bootPhases;
    if (stateFile) p.restoreMs = this.bootMs;
    else p.agentMs = this.bootMs - p.firmwareMs - p.kernelMs;
  }

  private onConsole(text: string): void {
    const l: LogLine = { t: Date.now() - this.t0, text };
    this.log.push(l);
    this.opts.onConsole?.(text);
    // /init prints the guest's uptime (kernel clock, which starts at kernel
    // entry and runs at host speed under TCG) as it starts the agent.
    const up = /^mirrorlab-init: agent starting at ([\d.]+)s/.exec(text);
    if (up && Number.isNaN(this.bootPhases.kernelMs)) {
      this.bootPhases.kernelMs = Math.round(Number(up[1]) * 1000);
      this.bootPhases.firmwareMs = Date.now() - this.spawnAt - this.bootPhases.kernelMs;
    }
    const m = /^mirrorlab-exit: (\d+)/.exec(text);
    if (m) this.exitStatus = Number(m[1]);
    if (this.failure && !this.crashCollect) return;
    if (this.crashCollect) {
      // The report ends at its end-trace marker, or after a quiet moment.
      if (/---\[ end (trace|Kernel panic)/.test(text) || this.log.lines.length - this.crashCollect.start > 120) this.finishCrash();
      else this.crashCollect.timer.refresh();
      return;
    }
    const hit = matchCrash(text);
    if (hit && this.allowed?.patterns.some((re) => re.test(text))) {
      this.allowed.lines.push(text);
      return;
    }
    if (hit) {
      const start = Math.max(0, this.log.lines.length - 4);
      this.crashCollect = { kind: hit.kind, start, timer: setTimeout(() => this.finishCrash(), 500) };
    }
  }

  private finishCrash(): void {
    if (!this.crashCollect) return;
    const { kind, start, timer } = this.crashCollect;
    clearTimeout(timer);
    this.crashCollect = null;
    this.fail(new VmCrashError(this.kernel, kind, this.log.since(start)));
  }

  private onRpc(line: string): void {
    if (!line.trim()) return;
    let msg: { id?: number; event?: string; result?: unknown; error?: unknown };
    try {
      msg = decode(JSON.parse(line)) as typeof msg;
    } catch {
      this.onConsole(`[mirrorlab] unparsable message from the guest agent: ${line.slice(0, 200)}`);
      return;
    }
    if (msg.event === 'ready') {
      this.readyWaiters?.resolve();
      this.readyWaiters = null;
      return;
    }
    const p = msg.id !== undefined ? this.pending.get(msg.id) : undefined;
    if (!p) return;
    this.pending.delete(msg.id!);
    clearTimeout(p.timer);
    if (msg.error !== undefined) p.reject(msg.error instanceof Error ? msg.error : new Error(String(msg.error)));
    else p.resolve(msg.result);
  }

  /** Fails the run: every pending request and close() reject with err; QEMU is killed. */
  private fail(err: Error): void {
    if (this.failure) return;
    this.failure = err;
    this.readyWaiters?.reject(err);
    this.readyWaiters = null;
    for (const [, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(err);
    }
    this.pending.clear();
    this.child?.kill('SIGKILL');
  }

  /** The error that failed this run, if any. */
  get error(): Error | null {
    return this.failure;
  }

  /** Sends one request to the agent. */
  request(method: string, params: unknown[], opts: { timeoutMs?: number } = {}): Promise<unknown> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.closed || !this.sock) return Promise.reject(new Error('vm: closed'));
    const id = this.nextId++;
    const timeoutMs = opts.timeoutMs ?? this.callTimeoutMs;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.fail(
          new VmTimeoutError(`guest ${this.kernel} did not answer ${method} within ${timeoutMs} ms; killed`, this.log.tail(40)),
        );
      }, timeoutMs);
      this.pending.set(id, { resolve, reject, timer });
      this.sock!.write(frame({ id, method, params }));
    });
  }

  /** Runs a program in the guest: its exit status and output. */
  async exec(cmd: string, args: string[] = [], opts: ExecOptions = {}): Promise<ExecResult> {
    const { timeoutMs, ...rest } = opts;
    return (await this.request('exec', [cmd, args, rest], { timeoutMs })) as ExecResult;
  }

  /** Calls an exported async function of a guest module (src/guest/) in the guest: call(selftest, 'echo', 1). */
  async call<M, K extends GuestFunctions<M>>(module: GuestModule<M>, exportName: K, ...args: GuestArgs<M, K>): Promise<GuestResult<M, K>> {
    return (await this.request('call', [module.path, exportName, args])) as GuestResult<M, K>;
  }

  /** call() with its own time limit. */
  async callWith<M, K extends GuestFunctions<M>>(opts: { timeoutMs?: number }, module: GuestModule<M>, exportName: K, ...args: GuestArgs<M, K>): Promise<GuestResult<M, K>> {
    return (await this.request('call', [module.path, exportName, args], opts)) as GuestResult<M, K>;
  }

  /**
   * Loads a module in the initramfs (ours or in-tree) after its dependencies;
   * params go to the named module's insmod (name=value, BigInt as decimal).
   * A module already loaded is left as it is.
   */
  async loadModule(name: string, params: Record<string, string | number | bigint | boolean> = {}): Promise<{ loaded: string[] }> {
    return (await this.request('loadModule', [name, params])) as { loaded: string[] };
  }

  /** Unloads a module (rmmod). */
  async unloadModule(name: string): Promise<void> {
    const r = await this.exec('rmmod', [name]);
    if (r.status !== 0) throw new Error(`rmmod ${name} failed (${r.status}): ${r.stderr.trim()}`);
  }

  /**
   * Console barrier: writes a marker through /dev/kmsg and waits until it is
   * back on the host, so that every kernel message printed before it (a
   * WARN from the last operation, say) has been seen by the crash detector.
   */
  /**
   * Runs fn while console lines that match one of `patterns` (and would
   * otherwise fail the run as a crash) are collected instead; a console
   * barrier after fn makes sure its lines have arrived. For a test that
   * provokes a known kernel complaint on purpose and asserts it. Any other
   * crash line still fails the run.
   */
  async allowing<T>(patterns: RegExp[], fn: () => Promise<T>): Promise<{ value: T; lines: string[] }> {
    if (this.allowed) throw new Error('allowing() calls do not nest');
    const allowed = { patterns, lines: [] as string[] };
    this.allowed = allowed;
    try {
      const value = await fn();
      await this.sync();
      return { value, lines: allowed.lines };
    } finally {
      this.allowed = null;
    }
  }

  async sync(timeoutMs = 30_000): Promise<void> {
    const token = `mirrorlab-sync ${process.pid}-${++this.syncSeq}-${Date.now()}`;
    const from = this.log.mark;
    const seen = this.log.waitFor(new RegExp(token), timeoutMs, from);
    seen.catch(() => {});
    await this.request('kmsg', [`<4>${token}\n`]);
    try {
      await seen;
    } catch (e) {
      if (this.failure) throw this.failure;
      throw e;
    }
    if (this.crashCollect) await new Promise<void>((r) => setTimeout(r, 600));
    if (this.failure) throw this.failure;
  }

  /**
   * Shuts the guest down: a console barrier, then the agent exits with
   * `status` and /init powers off. Resolves with the guest's exit status;
   * rejects with the crash (or timeout) that failed the run.
   */
  async close(status = 0): Promise<number> {
    if (this.closed) {
      await this.exited;
      if (this.failure) throw this.failure;
      return this.exitStatus ?? -1;
    }
    if (!this.failure && this.sock) {
      try {
        await this.scanKmemleak();
      } catch (e) {
        this.failure ??= e as Error;
      }
    }
    if (!this.failure && this.sock) {
      try {
        await this.sync();
        await this.request('shutdown', [status], { timeoutMs: 30_000 });
      } catch {
        /* the failure (if any) is reported below */
      }
    }
    this.closed = true;
    const killTimer = setTimeout(() => this.child?.kill('SIGKILL'), 15_000);
    if (this.failure || !this.child || this.qemuExit) this.child?.kill('SIGKILL');
    await this.exited;
    clearTimeout(killTimer);
    this.cleanup();
    if (this.failure) throw this.failure;
    return this.exitStatus ?? -1;
  }

  /**
   * kmemleak's verdict on the guest's life, where the kernel has kmemleak:
   * one scan (the debug flavour has no automatic one), then the report. An
   * object our modules allocated fails the run; the kernel's own objects,
   * mltrigger's deliberate leaks and objects of modules since unloaded are
   * only counted (this.kmemleak).
   */
  private async scanKmemleak(): Promise<void> {
    if (this.opts.kmemleakScan === false || kernelConfig(this.kernel, 'CONFIG_DEBUG_KMEMLEAK') !== 'y') return;
    const r = await this.exec('sh', ['-c', 'f=/sys/kernel/debug/kmemleak; [ -e $f ] || exit 0; echo scan > $f && cat $f'], { timeoutMs: 600_000 });
    if (r.status !== 0) throw new Error(`kmemleak scan failed (${r.status}): ${r.stderr.trim()}`);
    this.kmemleak = judgeKmemleak(r.stdout);
    if (this.kmemleak.ours.length) {
      this.failure = new VmCrashError(this.kernel, 'kmemleak', `kmemleak: ${this.kmemleak.ours.length} unreferenced objects allocated by our modules:\n${this.kmemleak.ours.join('\n')}\n\n${r.stdout.slice(0, 8000)}`);
    }
  }

  /** Kills QEMU at once, without a shutdown; requests in flight reject. */
  async kill(): Promise<void> {
    this.closed = true;
    for (const [, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(new Error(`vm: guest ${this.kernel} killed`));
    }
    this.pending.clear();
    if (this.child && !this.qemuExit) {
      this.child.kill('SIGKILL');
      await this.exited;
    }
    this.cleanup();
  }

  /** QEMU's process id (tests use it to prove it is gone). */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  private cleanup(): void {
    this.server?.close();
    fs.rmSync(this.tmp, { recursive: true, force: true });
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/** A NUMA node's RAM object: anonymous memory, or a file (see snapshot.ts). */
function ramBackend(node: 0 | 1, sizeMiB: number, ram: GuestRam | undefined): string {
  if (!ram) return `memory-backend-ram,id=mem${node},size=${sizeMiB}M`;
  if (/,/.test(ram.files[node])) throw new Error(`RAM file path ${ram.files[node]}: commas are not allowed`);
  return `memory-backend-file,id=mem${node},size=${sizeMiB}M,mem-path=${ram.files[node]},share=${ram.share ? 'on' : 'off'}`;
}

function qemuBinary(): string {
  const qemu = findOnPath('qemu-system-x86_64');
  if (!qemu) throw new Error('qemu-system-x86_64 not found (scripts/setup.sh installs it)');
  return qemu;
}

/** QEMU's run state and migration status through QMP, in words (for a restore that timed out). */
async function qmpRunState(socketPath: string): Promise<string> {
  let qmp: Qmp | undefined;
  const query = async (): Promise<string> => {
    qmp = await Qmp.connect(socketPath);
    const st = (await qmp.execute('query-status')) as { status: string };
    const mig = (await qmp.execute('query-migrate')) as { status?: string };
    return `run state ${st.status}, migration ${mig.status ?? 'none'}`;
  };
  const limit = new Promise<string>((r) => setTimeout(() => r('QMP did not answer'), 2_000));
  try {
    return await Promise.race([query(), limit]);
  } catch (e) {
    return `QMP: ${firstLine(e)}`;
  } finally {
    qmp?.close();
  }
}

/** An error's first line, for a status message. */
function firstLine(e: unknown): string {
  return String(e instanceof Error ? e.message : e).split('\n')[0];
}

/**
 * Firmware: QEMU's default SeaBIOS. $MIRRORLAB_QEMU_BIOS picks another file.
 * qboot (/usr/share/qemu/qboot.rom) reaches the kernel's first line in 0.15 s
 * instead of 2-3 s, but measured boot-to-agent times did not improve (the
 * time moves into the kernel phase), and it loads the initrd just below
 * 2 GiB, where the boot-time 1 GiB hugetlb page has to go: not the default.
 */
function biosArgs(): string[] {
  const env = process.env.MIRRORLAB_QEMU_BIOS;
  return env && env !== 'seabios' ? ['-bios', env] : [];
}

/** vmlinux (PVH entry) unless $MIRRORLAB_BZIMAGE=1 or the cache has none. */
function kernelImage(series: KernelSeries): string {
  const k = kernelInfo(series);
  return k.vmlinux && process.env.MIRRORLAB_BZIMAGE !== '1' ? k.vmlinux : k.vmlinuz;
}

async function resolveAccel(opts: VmOptions): Promise<Accel> {
  const want = opts.accel ?? ((process.env.MIRRORLAB_ACCEL as VmOptions['accel']) || 'auto');
  if (want === 'tcg' || want === 'kvm') return want;
  // An instruction-counted clock exists only under TCG: 'auto' picks it.
  if (opts.clock === 'icount') return 'tcg';
  return (await kvmUsable(opts.kernel, opts.onStatus)) ? 'kvm' : 'tcg';
}

/**
 * Whether guests use KVM (see kvm.ts): the cached verdict for this host kernel
 * and QEMU, or, without one, a KVM test boot of `kernel` whose verdict is cached.
 */
export async function kvmUsable(kernel: KernelSeries, onStatus: (m: string) => void = () => {}): Promise<boolean> {
  if (!kvmDeviceOpens()) return false;
  const cached = cachedKvmVerdict();
  if (cached) return cached.usable;
  onStatus('probing KVM with a test boot');
  let usable = false;
  let detail = '';
  try {
    const vm = await Vm.boot({ kernel, accel: 'kvm', timeoutMs: 30_000 });
    const r = await vm.exec('true');
    await vm.close();
    usable = r.status === 0;
    detail = `booted in ${vm.bootMs} ms`;
  } catch (e) {
    detail = String((e as Error).message).split('\n').slice(0, 6).join(' | ');
  }
  onStatus(`KVM ${usable ? 'usable' : 'not usable'}: ${detail}`);
  recordKvmVerdict(usable, detail);
  return usable;
}
