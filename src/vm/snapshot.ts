// Saved guest states: a guest booted once to a ready agent is saved with
// QEMU's migration (to a file, through `exec:cat`), and later guests of the
// same shape start from that file with -incoming instead of booting.
//
// Guest RAM is not in the migration stream. The guest that is saved has its
// RAM in two files (memory-backend-file, share=on) and the migration
// capability x-ignore-shared leaves those out; a restored guest maps the same
// files privately (share=off): copy-on-write, pages read in as the guest
// touches them, the page cache shared by every guest restored from them.
// Through the stream, a restore took 1-2 s and 5 GiB of host memory: QEMU
// reads every zero page of guest RAM to see whether to clear it, and on a
// host without a shared zero page for those reads that allocates all of it.
//
// A state file is named by a content hash of everything that shapes the
// guest: the QEMU binary and its firmware files, the kernel image, the
// initrd bytes (extra archives included) and every other QEMU argument
// (memory, CPUs, NUMA, hugepages, THP, command line, accelerator, clock).
// Socket and RAM file paths are left out: they differ per guest and shape
// nothing inside it. A saved state is a directory <kernel cache
// dir>/snapshots/<key>/ (state, mem0, mem1), written under a temporary name
// and renamed when complete, so concurrent runs never read half of one.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { kernelCacheDir, type KernelSeries } from './kernels.js';

/** Bump when what a state file holds changes in a way the key cannot see (the agent's resume protocol, say). */
const FORMAT = 1;
/** Stand-ins for per-guest paths in the argv the key is made of. */
export const INITRD_PLACEHOLDER = '<initrd>';
export const RPC_SOCKET_PLACEHOLDER = '<rpc-socket>';
/** The guest's RAM in the key: files, whatever their paths and sharing. */
export const RAM_PLACEHOLDER: GuestRam = { files: ['<ram0>', '<ram1>'], share: true };
/**
 * Saved states kept per kernel: the most recently used ones (each a few
 * hundred MiB on disk). A full test run starts guests of seven or eight
 * shapes per kernel (modules, RAM, CPUs); with three kept, shapes pushed each
 * other out and the run cold booted and saved the same states again.
 */
export const SNAPSHOTS_KEPT = 10;
/** The device state (and the RAM that is not guest RAM: firmware, ROMs, ACPI tables) in a saved state's directory. */
const STATE = 'state';

/** Guest RAM in files (the two NUMA nodes' halves): shared while it is saved, private when restored. */
export interface GuestRam {
  files: [string, string];
  share: boolean;
}

/**
 * QEMU arguments of every guest that may be saved: the migration stream
 * leaves out the source's run state ("paused", as the guest is stopped for
 * the save), so the restoring QEMU starts the guest as soon as the state is
 * loaded instead of waiting for a "cont".
 */
export const SAVE_ARGS: readonly string[] = ['-global', 'migration.store-global-state=off'];

/** Files QEMU reads at start besides its argv (firmware, option ROMs): they end up in guest memory. */
const FIRMWARE = ['bios-256k.bin', 'pvh.bin', 'linuxboot_dma.bin', 'kvmvapic.bin'].map((f) => path.join('/usr/share/qemu', f));

/**
 * Whether guests may start from saved states, and why not: off with
 * $MIRRORLAB_SNAPSHOT=0 or the option `snapshot: false`. KVM guests always
 * cold boot: they boot in about a second already, and -cpu host would tie a
 * state file to the host's CPU model and microcode.
 */
export function snapshotRefusal(option: boolean | undefined, accel: 'tcg' | 'kvm', clock: 'wall' | 'icount' = 'wall'): string | null {
  if (option === false) return 'snapshots off (snapshot: false)';
  if (process.env.MIRRORLAB_SNAPSHOT === '0') return 'snapshots off (MIRRORLAB_SNAPSHOT=0)';
  if (accel === 'kvm') return 'KVM guests always cold boot';
  // An icount guest's time is its instruction count since reset; a restored
  // state would start it part-way, after a boot made under other conditions.
  // Guest-time figures then come from guests that all started the same way.
  if (clock === 'icount') return 'icount guests always cold boot';
  return null;
}

/**
 * Where a kernel's saved states live: <kernel cache dir>/snapshots, or
 * $MIRRORLAB_SNAPSHOT_DIR/<series> (a run that damages or prunes states,
 * such as test/guest/vm-snapshot.test.ts, keeps them apart from everyone
 * else's there).
 */
export function snapshotDir(series: KernelSeries): string {
  const root = process.env.MIRRORLAB_SNAPSHOT_DIR;
  return root ? path.join(path.resolve(root), series) : path.join(kernelCacheDir(series), 'snapshots');
}

/**
 * With $MIRRORLAB_BOOT_LOG set to a file: one JSON line appended for every
 * guest started (kernel, state key, restored or cold, the start note), to see
 * over a whole test run how many guests cold booted and why.
 */
export function logGuestStart(entry: Record<string, unknown>): void {
  const file = process.env.MIRRORLAB_BOOT_LOG;
  if (!file) return;
  try {
    fs.appendFileSync(file, `${JSON.stringify({ t: new Date().toISOString(), pid: process.pid, ...entry })}\n`);
  } catch {
    /* a diagnostic only */
  }
}

/** Stat identity of a file: a rewrite changes size, mtime or ctime. */
function statKey(file: string): string {
  const st = fs.statSync(file, { bigint: true });
  return `${fs.realpathSync(file)}\0${st.dev}\0${st.ino}\0${st.size}\0${st.mtimeNs}\0${st.ctimeNs}`;
}

const digestMemo = new Map<string, string>();

/**
 * sha256 of a file's bytes. Hashing the kernel and initrd costs about a
 * second, so a digest is remembered, in this process and on disk (in
 * `memoDir`), under the file's stat identity.
 */
export function fileDigest(file: string, memoDir: string): string {
  const id = statKey(file);
  const memoKey = createHash('sha256').update(id).digest('hex');
  const known = digestMemo.get(memoKey);
  if (known) return known;
  const memoFile = path.join(memoDir, memoKey);
  let digest = '';
  try {
    digest = fs.readFileSync(memoFile, 'utf8').trim();
  } catch {
    /* not remembered yet */
  }
  if (!/^[0-9a-f]{64}$/.test(digest)) {
    const h = createHash('sha256');
    const fd = fs.openSync(file, 'r');
    try {
      const buf = Buffer.alloc(4 << 20);
      for (let n; (n = fs.readSync(fd, buf, 0, buf.length, null)) > 0; ) h.update(buf.subarray(0, n));
    } finally {
      fs.closeSync(fd);
    }
    digest = h.digest('hex');
    writeAtomically(memoFile, `${digest}\n`);
  }
  digestMemo.set(memoKey, digest);
  return digest;
}

function writeAtomically(file: string, content: string): void {
  try {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    const tmp = `${file}.${process.pid}.${Math.random().toString(16).slice(2)}.tmp`;
    fs.writeFileSync(tmp, content);
    fs.renameSync(tmp, file);
  } catch {
    /* not remembered: hashed again next time */
  }
}

export interface SnapshotKeyInput {
  series: KernelSeries;
  qemu: string;
  /** QEMU's argv with INITRD_PLACEHOLDER and RPC_SOCKET_PLACEHOLDER for the per-guest paths. */
  argv: readonly string[];
  /** The archives concatenated into the initrd, in order. */
  initrdParts: readonly string[];
}

/** The content hash that names a guest shape's state file (hex, 64 digits). */
export function snapshotKey(input: SnapshotKeyInput): string {
  const memo = path.join(snapshotDir(input.series), 'digests');
  const h = createHash('sha256');
  h.update(`mirrorlab snapshot format ${FORMAT}\n`);
  const qemu = fs.statSync(input.qemu);
  h.update(`qemu ${fs.realpathSync(input.qemu)} ${qemu.size} ${qemu.mtimeMs}\n`);
  for (const f of FIRMWARE) {
    const st = fs.statSync(f, { throwIfNoEntry: false });
    h.update(`firmware ${f} ${st ? `${fs.realpathSync(f)} ${st.size} ${st.mtimeMs}` : 'absent'}\n`);
  }
  // A placeholder for each path that differs per guest; RAM files and their sharing included.
  input.argv.forEach((word, i) => {
    const prev = input.argv[i - 1];
    if (word === INITRD_PLACEHOLDER) {
      h.update(`initrd ${input.initrdParts.map((p) => `${fileDigest(p, memo)}:${fs.statSync(p).size}`).join(' ')}\n`);
    } else if (prev === '-kernel' || prev === '-bios') {
      h.update(`file ${fileDigest(word, memo)}\n`);
    } else {
      h.update(`arg ${word}\n`);
    }
  });
  return h.digest('hex');
}

/**
 * The files of a saved state: the device state, the two RAM files, and the
 * console of the boot that made it (a restored guest's log starts with it).
 */
export interface SavedPaths {
  dir: string;
  state: string;
  ram: [string, string];
  console: string;
}

/** A saved state of a kernel: its directory, and what is in it. */
export function snapshotPaths(series: KernelSeries, key: string): SavedPaths {
  return savedPaths(path.join(snapshotDir(series), key));
}

function savedPaths(dir: string): SavedPaths {
  return { dir, state: path.join(dir, STATE), ram: [path.join(dir, 'mem0'), path.join(dir, 'mem1')], console: path.join(dir, 'console.txt') };
}

/** A directory to boot a guest that is to be saved in: its RAM files go there, then the state. */
export function stagingPaths(series: KernelSeries, key: string): SavedPaths {
  const dir = path.join(snapshotDir(series), `.${key.slice(0, 12)}.${process.pid}.${Math.random().toString(16).slice(2)}.tmp`);
  fs.mkdirSync(dir, { recursive: true });
  return savedPaths(dir);
}

/**
 * Renames a complete staging directory to the key's saved state. When
 * another run got there first, its state stays and this one is removed: both
 * were made from the same shape.
 */
export function publishSnapshot(staging: string, final: string): void {
  try {
    fs.renameSync(staging, final);
  } catch (e) {
    fs.rmSync(staging, { recursive: true, force: true });
    if (!['ENOTEMPTY', 'EEXIST'].includes((e as NodeJS.ErrnoException).code ?? '')) throw e;
  }
}

/** QEMU's -incoming argument for a state file: `cat` of the file through a shell. */
export function incomingArg(file: string): string {
  if (/['\n]/.test(file)) throw new Error(`snapshot path ${JSON.stringify(file)}: quotes and newlines are not allowed`);
  return `exec:cat '${file}'`;
}

/**
 * Why a state file cannot be a QEMU migration stream, or null: it must start
 * with QEMU's magic ("QEVM"). QEMU 7.2 waits in "inmigrate" for ever on an
 * empty stream (migration status "none"), so without this check an empty
 * state cost the whole restore timeout before the cold boot.
 */
export function stateFileProblem(file: string): string | null {
  const head = Buffer.alloc(4);
  let got = 0;
  try {
    const fd = fs.openSync(file, 'r');
    try {
      got = fs.readSync(fd, head, 0, 4, 0);
    } finally {
      fs.closeSync(fd);
    }
  } catch (e) {
    return `state file unreadable: ${(e as Error).message}`;
  }
  if (got < 4) return `state file ${got === 0 ? 'is empty' : `holds ${got} bytes`}: not a QEMU migration stream`;
  if (head.toString('latin1') !== 'QEVM') return `state file starts with ${JSON.stringify(head.toString('latin1'))}, not QEMU's "QEVM": not a QEMU migration stream`;
  return null;
}

/** Marks a saved state as just used (pruning keeps the most recently used ones). */
export function touchSnapshot(dir: string): void {
  try {
    const now = new Date();
    fs.utimesSync(dir, now, now);
  } catch {
    /* gone meanwhile: the restore that opened it still reads it */
  }
}

/** Removes a directory: renamed away first, so nobody finds it half removed. */
function removeDir(dir: string): void {
  const away = `${dir}.${process.pid}.${Math.random().toString(16).slice(2)}.removed.tmp`;
  try {
    fs.renameSync(dir, away);
  } catch {
    return; // gone already
  }
  fs.rmSync(away, { recursive: true, force: true });
}

/**
 * Removes a saved state that failed to restore, unless another run replaced
 * it with a new one since (its state file is not the one that failed).
 */
export function discardSnapshot(dir: string, stateIno: bigint | null): void {
  const st = fs.statSync(path.join(dir, STATE), { bigint: true, throwIfNoEntry: false });
  if (st && stateIno !== null && st.ino !== stateIno) return;
  removeDir(dir);
}

/** Deletes all but the SNAPSHOTS_KEPT most recently used saved states of a kernel, and staging directories of runs that died. */
export function pruneSnapshots(series: KernelSeries): void {
  const dir = snapshotDir(series);
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return;
  }
  const states: { dir: string; mtime: number }[] = [];
  for (const n of names) {
    const p = path.join(dir, n);
    const st = fs.statSync(p, { throwIfNoEntry: false });
    if (!st?.isDirectory()) continue;
    // Staging an hour old belongs to a run that died while booting or saving.
    if (n.endsWith('.tmp')) {
      if (Date.now() - st.mtimeMs > 3_600_000) fs.rmSync(p, { recursive: true, force: true });
    } else if (/^[0-9a-f]{64}$/.test(n)) {
      states.push({ dir: p, mtime: st.mtimeMs });
    }
  }
  states.sort((a, b) => b.mtime - a.mtime);
  for (const s of states.slice(SNAPSHOTS_KEPT)) removeDir(s.dir);
}

/** A QMP connection: one command at a time, events ignored. */
export class Qmp {
  private buf = '';
  private waiting: { resolve: (v: Record<string, unknown>) => void; reject: (e: Error) => void } | null = null;
  private closedError: Error | null = null;

  private constructor(private readonly sock: net.Socket) {
    sock.setEncoding('utf8');
    sock.on('data', (s: string) => {
      this.buf += s;
      for (let i; (i = this.buf.indexOf('\n')) >= 0; ) {
        const line = this.buf.slice(0, i).trim();
        this.buf = this.buf.slice(i + 1);
        if (line) this.onMessage(JSON.parse(line) as Record<string, unknown>);
      }
    });
    const gone = (e?: Error): void => {
      this.closedError = new Error(`QMP: connection closed${e ? `: ${e.message}` : ''}`);
      this.waiting?.reject(this.closedError);
      this.waiting = null;
    };
    sock.on('error', gone);
    sock.on('close', () => gone());
  }

  private onMessage(msg: Record<string, unknown>): void {
    if ('event' in msg) return;
    const w = this.waiting;
    this.waiting = null;
    w?.resolve(msg);
  }

  private next(): Promise<Record<string, unknown>> {
    if (this.closedError) return Promise.reject(this.closedError);
    return new Promise((resolve, reject) => (this.waiting = { resolve, reject }));
  }

  /** connect(), retried while QEMU has not made the socket yet (it does early at start). */
  static async connectWhenUp(socketPath: string, timeoutMs = 10_000): Promise<Qmp> {
    const t0 = Date.now();
    for (;;) {
      try {
        return await Qmp.connect(socketPath);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if ((code !== 'ENOENT' && code !== 'ECONNREFUSED') || Date.now() - t0 > timeoutMs) throw e;
        await new Promise((r) => setTimeout(r, 5));
      }
    }
  }

  /** Connects, reads the greeting and leaves capabilities negotiation mode. */
  static async connect(socketPath: string): Promise<Qmp> {
    const sock = net.connect(socketPath);
    await new Promise<void>((resolve, reject) => {
      sock.once('connect', resolve);
      sock.once('error', reject);
    });
    const qmp = new Qmp(sock);
    const greeting = await qmp.next();
    if (!('QMP' in greeting)) throw new Error(`QMP: unexpected greeting ${JSON.stringify(greeting)}`);
    await qmp.execute('qmp_capabilities');
    return qmp;
  }

  /** Runs one command; its "return" value, or an error with QMP's class and description. */
  async execute(command: string, args?: Record<string, unknown>): Promise<unknown> {
    const answer = this.next();
    this.sock.write(JSON.stringify(args ? { execute: command, arguments: args } : { execute: command }) + '\n');
    const msg = await answer;
    if ('error' in msg) {
      const e = msg.error as { class: string; desc: string };
      throw new Error(`QMP ${command}: ${e.class}: ${e.desc}`);
    }
    return msg.return;
  }

  close(): void {
    this.sock.destroy();
  }
}

export interface SaveResult {
  /** Bytes of the state file (devices, firmware; not guest RAM). */
  stateBytes: number;
  /** Bytes of guest RAM files on disk (they are sparse). */
  ramBytes: number;
  ms: number;
}

/** The migration capability that leaves shared RAM (the guest's RAM files) out of the stream; set on both sides. */
export const IGNORE_SHARED = [{ capability: 'x-ignore-shared', state: true }];

/**
 * Saves a running guest whose RAM is in shared files (stagingPaths) through
 * QMP: the guest stopped, then migration of everything else to the state
 * file. The guest stays stopped: the caller quits this QEMU, then publishes
 * the directory. The state records no run state (see SAVE_ARGS), so a
 * restore runs at once.
 *
 * The writer is a `cat` the shell leaves in the background: QEMU 7.2 closes
 * an exec: channel's pipe and at once sends its command SIGTERM (then
 * SIGKILL) unless it has exited, which can cut off the stream's tail while
 * cat still copies it. The shell exits at once instead; cat reads to the end
 * of the pipe and only then renames its file, which "completed" from
 * query-migrate does not promise.
 */
export async function saveSnapshot(qmpSocket: string, staging: { state: string; ram: [string, string] }, timeoutMs = 120_000): Promise<SaveResult> {
  const t0 = Date.now();
  const tmp = `${staging.state}.part`;
  if (/['\n]/.test(tmp)) throw new Error(`snapshot path ${JSON.stringify(tmp)}: quotes and newlines are not allowed`);
  const qmp = await Qmp.connect(qmpSocket);
  const overdue = (what: string): Error => new Error(`saving ${staging.state}: ${what} not within ${timeoutMs} ms`);
  try {
    await qmp.execute('migrate-set-capabilities', { capabilities: IGNORE_SHARED });
    await qmp.execute('stop');
    // QEMU 7.2 limits migration to 128 MiB/s by default; a file has no peer to spare.
    await qmp.execute('migrate-set-parameters', { 'max-bandwidth': Number.MAX_SAFE_INTEGER });
    await qmp.execute('migrate', { uri: `exec:exec 3<&0; { cat <&3 >'${tmp}' && mv '${tmp}' '${staging.state}'; } & exit 0` });
    for (;;) {
      const info = (await qmp.execute('query-migrate')) as { status?: string; 'error-desc'?: string };
      if (info.status === 'completed') break;
      if (info.status === 'failed' || info.status === 'cancelled') {
        throw new Error(`saving ${staging.state}: migration ${info.status}${info['error-desc'] ? `: ${info['error-desc']}` : ''}`);
      }
      if (Date.now() - t0 > timeoutMs) throw overdue(`migration completed (status ${info.status})`);
      await new Promise((r) => setTimeout(r, 20));
    }
    while (!fs.existsSync(staging.state)) {
      if (Date.now() - t0 > timeoutMs) throw overdue('the writer finished');
      await new Promise((r) => setTimeout(r, 10));
    }
    const ramBytes = staging.ram.reduce((n, f) => n + fs.statSync(f).blocks * 512, 0);
    return { stateBytes: fs.statSync(staging.state).size, ramBytes, ms: Date.now() - t0 };
  } finally {
    qmp.close();
  }
}

/**
 * Starts loading a saved state into a QEMU started with `-incoming defer`
 * (whose RAM objects map the state's RAM files privately).
 */
export async function startIncoming(qmpSocket: string, stateFile: string): Promise<void> {
  const qmp = await Qmp.connectWhenUp(qmpSocket);
  try {
    await qmp.execute('migrate-set-capabilities', { capabilities: IGNORE_SHARED });
    await qmp.execute('migrate-incoming', { uri: incomingArg(stateFile) });
  } finally {
    qmp.close();
  }
}
