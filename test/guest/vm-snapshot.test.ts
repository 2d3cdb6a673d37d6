// Guests restored from a saved state (src/vm/snapshot.ts): they answer, load
// modules and run commands; another shape gets its own state; a damaged
// state falls back to a cold boot and is replaced; crashes are still caught;
// two guests restored from one state at once are independent.
import { caseId, caseOf } from './cases.js';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ensureGuestBuild, kernels, ourQemuPids, skipReason } from './helpers.js';
import { Vm, type VmOptions } from '../../src/vm/vm.js';
import { VmCrashError } from '../../src/vm/crash.js';
import { snapshotPaths } from '../../src/vm/snapshot.js';
import { parseSmaps } from '../../src/pagestate/smaps.js';
import { fakevramSteps } from '../../src/guest/index.js';
import type { KernelSeries } from '../../src/vm/kernels.js';

const matrix = kernels();
beforeAll(() => ensureGuestBuild(matrix.filter((k) => !skipReason(k))), 600_000);

// Saved states of this file's own, in its temporary directory: the states it
// damages and the shapes it makes stay apart from those every other file
// restores from, and no other file's save prunes one of these while a case
// here counts on it. So this file runs beside the others (file-groups.ts).
process.env.MIRRORLAB_SNAPSHOT_DIR = fs.mkdtempSync(path.join(os.tmpdir(), 'snapshots-'));

/** A shape no other run has used: its first boot cannot find a saved state. */
function freshShape(kernel: KernelSeries): VmOptions {
  return { kernel, thp: 'always', cmdline: [`mirrorlab.test-shape=${randomBytes(6).toString('hex')}`] };
}

/** Boots, checks the guest answers, closes: the shape's state exists afterwards. */
async function bootOnce(opts: VmOptions): Promise<Vm> {
  const vm = await Vm.boot(opts);
  try {
    expect((await vm.exec('true')).status).toBe(0);
  } finally {
    await vm.close();
  }
  return vm;
}

/**
 * The default shape's state, copied into this file's directory from the
 * shared one (restored from there first, which saves it there if it is
 * missing): snapshot-restore then restores without a cold boot of its own.
 * The cold boots this file pays for are those its cases are about (a new
 * shape, a damaged state). Returns the shape's key.
 */
async function copySharedState(kernel: KernelSeries): Promise<string | null> {
  const own = process.env.MIRRORLAB_SNAPSHOT_DIR!;
  let from: string;
  let key: string | null;
  delete process.env.MIRRORLAB_SNAPSHOT_DIR;
  try {
    key = (await bootOnce({ kernel })).snapshotKey;
    if (!key) return null;
    from = snapshotPaths(kernel, key).dir;
  } finally {
    process.env.MIRRORLAB_SNAPSHOT_DIR = own;
  }
  const to = snapshotPaths(kernel, path.basename(from)).dir;
  if (fs.existsSync(to)) return key;
  fs.mkdirSync(path.dirname(to), { recursive: true });
  // the RAM files are sparse (GiBs long, MiBs of data): copy only the data
  execFileSync('cp', ['-r', '--sparse=always', '--reflink=auto', from, to]);
  return key;
}

function removeState(kernel: KernelSeries, key: string | null): void {
  if (key) fs.rmSync(snapshotPaths(kernel, key).dir, { recursive: true, force: true });
}

const DAMAGES = [
  { name: 'truncated', damage: (f: string): void => fs.truncateSync(f, Math.floor(fs.statSync(f).size / 2)) },
  { name: 'garbage', damage: (f: string): void => fs.writeFileSync(f, randomBytes(fs.statSync(f).size)) },
  { name: 'empty', damage: (f: string): void => fs.truncateSync(f, 0) },
];

/** The kernels that can boot here. */
const runnable = matrix.filter((k) => !skipReason(k));

/**
 * The damages a kernel's guests are given: the kernels of the matrix take
 * turns (one each on three kernels, all of them on one; a kernel that cannot
 * boot here takes no turn). QEMU refuses a damaged state before the guest
 * runs an instruction, so what each case checks is QEMU's and ours, the same
 * on every kernel; each costs a cold boot (ten seconds under TCG), which is
 * why each runs on one kernel.
 */
function damagesOn(kernel: KernelSeries): typeof DAMAGES {
  return DAMAGES.filter((_, i) => runnable[i % runnable.length] === kernel);
}

/**
 * snapshot-shape runs on the first kernel only: a shape's key is made on the
 * host from QEMU's arguments, whatever the kernel, and the cold boot, save
 * and restore it goes through are those every damaged-state case goes
 * through on its kernel.
 */
const shapeKernel = runnable[0] ?? matrix[0];

/** Bytes a restored guest writes for the first time in snapshot-ram-overlay. */
const FIRST_WRITES = 64 << 20;

/**
 * How QEMU (pid) maps guest RAM: the RAM files' blocks (each from the
 * address where file offset 0 would be, /proc/PID/smaps), the bytes of them
 * still mapped from the files, and the anonymous memory in them, KiB: in
 * huge pages, and in copies of the files' pages (the anonymous pages of the
 * file mappings). Plus QEMU's minor faults (/proc/PID/stat).
 */
function qemuRam(pid: number, files: readonly string[]): { fileMappedBytes: number; anonHugeKiB: number; fileCopiesKiB: number; minflt: number } {
  const vmas = parseSmaps(fs.readFileSync(`/proc/${pid}/smaps`, 'utf8'));
  const blocks = files.map((f) => {
    const v = vmas.find((x) => x.path === f);
    if (!v) throw new Error(`${f} is not mapped by QEMU ${pid}`);
    const base = v.start - v.offset;
    return { from: base, to: base + BigInt(fs.statSync(f).size) };
  });
  const inRam = vmas.filter((v) => blocks.some((b) => v.start >= b.from && v.end <= b.to));
  const sum = (k: string, of = inRam): number => of.reduce((n, v) => n + (v.kB[k] ?? 0), 0);
  const fileVmas = inRam.filter((v) => files.includes(v.path));
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  return {
    fileMappedBytes: fileVmas.reduce((n, v) => n + Number(v.end - v.start), 0),
    anonHugeKiB: sum('AnonHugePages'),
    fileCopiesKiB: sum('Anonymous', fileVmas),
    minflt: Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[7]),
  };
}

/**
 * Restores the default shape and writes FIRST_WRITES bytes into the guest's
 * iomem range through fakevram (RAM that no guest wrote before the save):
 * how QEMU maps the RAM files, and the anonymous memory and host faults
 * those writes added.
 */
async function firstWrites(kernel: KernelSeries): Promise<{ overlay: string | null; fileBytes: number; fileMappedBytes: number; anonHugeKiB: number; fileCopiesKiB: number; hostFaults: number }> {
  const vm = await Vm.boot({ kernel });
  try {
    expect(vm.restored).toBe(true);
    const files = snapshotPaths(kernel, vm.snapshotKey!).ram;
    await vm.loadModule('fakevram', { kind: 'iomem', base: vm.iomem.base, size: FIRST_WRITES });
    const before = qemuRam(vm.pid!, files);
    const r = await vm.call(fakevramSteps, 'faultsAndData', 'pte', FIRST_WRITES);
    const after = qemuRam(vm.pid!, files);
    // what the guest wrote, it read back (through the device and the mapping)
    expect([r.badDeviceView, r.badMappingView, r.badAfterRefault]).toEqual([0, 0, 0]);
    return {
      overlay: vm.ramOverlay,
      fileBytes: files.reduce((n, f) => n + fs.statSync(f).size, 0),
      fileMappedBytes: after.fileMappedBytes,
      anonHugeKiB: after.anonHugeKiB - before.anonHugeKiB,
      fileCopiesKiB: after.fileCopiesKiB - before.fileCopiesKiB,
      hostFaults: after.minflt - before.minflt,
    };
  } finally {
    await vm.close();
  }
}

describe.each(matrix)('kernel %s', (kernel) => {
  const reason = skipReason(kernel);
  const opts = { timeout: 400_000 };
  /** The default shape's key, once snapshot-restore has copied its state here. */
  let defaultKey: string | null = null;

  it.skipIf(reason !== null)(...caseOf('snapshot-restore', 'a restored guest answers, loads a module, runs commands, has the options it was asked for and the host\'s wall clock', opts), async () => {
    defaultKey = await copySharedState(kernel);
    const before = Date.now();
    const vm = await Vm.boot({ kernel, modules: ['mirrordrm'] });
    try {
      expect(vm.restored).toBe(true);
      expect(vm.startNote).toMatch(/^restored from snapshot [0-9a-f]{12} in \d+ ms/);
      expect(vm.bootPhases.restoreMs).toBe(vm.bootMs);
      expect(vm.snapshotKey).toMatch(/^[0-9a-f]{64}$/);
      // The log starts with the console of the boot that made the state.
      expect(vm.log.lines[0].t).toBe(0);
      expect(vm.log.text).toMatch(/^mirrorlab-init: agent starting at [\d.]+s$/m);
      const r = await vm.exec('sh', ['-c', 'cat /proc/cmdline /proc/uptime; date +%s; cat /sys/module/mirrordrm/initstate; ls /dev/dri']);
      const after = Date.now();
      expect(r.status).toBe(0);
      const [cmdline, uptime, date, initstate, ...dri] = r.stdout.trim().split('\n');
      expect(cmdline).toBe(vm.cmdline);
      expect(cmdline).toContain('mirrorlab.thp=madvise');
      expect(initstate).toBe('live');
      expect(dri.some((name) => /^card\d+$/.test(name))).toBe(true);
      // The monotonic clock goes on from where the saved guest stopped: the
      // uptime is the saved guest's boot plus the time since this restore.
      expect(Number(uptime.split(' ')[0])).toBeGreaterThan(0);
      // The wall clock was set from the host's at restore (the state's is as old as the file).
      const guestS = Number(date);
      expect(guestS).toBeGreaterThanOrEqual(Math.floor(before / 1000) - 1);
      expect(guestS).toBeLessThanOrEqual(Math.ceil(after / 1000) + 1);
      // setClock itself: a date set is the date read.
      await vm.request('setClock', [Date.UTC(2001, 8, 9, 1, 46, 40)]);
      expect((await vm.exec('date', ['-u', '+%Y-%m-%d %H:%M'])).stdout.trim()).toBe('2001-09-09 01:46');
      await vm.request('setClock', [Date.now()]);
    } finally {
      await vm.close();
    }
    expect(ourQemuPids()).toEqual([]);
  });

  if (kernel === shapeKernel) {
    it.skipIf(reason !== null)(...caseOf('snapshot-ram-overlay', 'a restored guest\'s first writes to RAM that was a hole in the saved files land in anonymous huge pages in QEMU, not 4 KiB copies; with MIRRORLAB_RAM_OVERLAY=0 the files are mapped whole (control)', opts), async () => {
      await bootOnce({ kernel });
      const on = await firstWrites(kernel);
      process.env.MIRRORLAB_RAM_OVERLAY = '0';
      let off: Awaited<ReturnType<typeof firstWrites>>;
      try {
        off = await firstWrites(kernel);
      } finally {
        delete process.env.MIRRORLAB_RAM_OVERLAY;
      }
      console.log(`${kernel} first writes of ${FIRST_WRITES >> 20} MiB to a RAM hole in a restored guest: overlay ${JSON.stringify(on)}; without ${JSON.stringify(off)}`);
      expect(on.overlay).toBe('RAM holes anonymous');
      expect(off.overlay).toBe('RAM overlay off (MIRRORLAB_RAM_OVERLAY=0)');
      // The files stay mapped only where they hold data (some hundreds of MiB of GiBs).
      expect(on.fileMappedBytes).toBeLessThan(on.fileBytes / 2);
      expect(off.fileMappedBytes).toBe(off.fileBytes);
      // The iomem range is never written before a save. Without the overlay
      // its first writes are 4 KiB copies of the files' pages, none huge.
      // With it they are anonymous memory, not copies (the copies left are
      // the guest's other writes, to RAM it had used before the save: 17 MiB
      // in one run), mostly in huge pages (a host short of free 2 MiB blocks
      // at that moment gives 4 KiB ones: 58 of 64 MiB were huge in one run).
      expect(off.anonHugeKiB).toBe(0);
      expect(off.fileCopiesKiB).toBeGreaterThanOrEqual(FIRST_WRITES / 1024);
      expect(off.fileCopiesKiB - on.fileCopiesKiB).toBeGreaterThanOrEqual(FIRST_WRITES / 1024);
      expect(on.anonHugeKiB).toBeGreaterThanOrEqual(FIRST_WRITES / 1024 / 2);
    });

    it.skipIf(reason !== null)(...caseOf('snapshot-shape', 'a guest of another shape (THP always, another command line) does not use the default shape\'s state: cold boot, its own key', opts), async () => {
      const usual = await bootOnce({ kernel });
      const shape = freshShape(kernel);
      const vm = await Vm.boot(shape);
      try {
        expect(vm.snapshotKey).not.toBe(usual.snapshotKey);
        // Its first guest is a cold boot saved as the shape's state, then restored from it.
        expect(vm.snapshotSaved?.coldBootMs).toBeGreaterThan(0);
        expect(vm.startNote).toMatch(/saved after a cold boot of \d+ ms: no snapshot for this guest shape/);
        expect(vm.restored).toBe(true);
        const r = await vm.exec('sh', ['-c', 'cat /sys/kernel/mm/transparent_hugepage/enabled /proc/cmdline']);
        expect(r.stdout.split('\n')[0]).toContain('[always]');
        expect(r.stdout.split('\n')[1]).toContain(shape.cmdline![0]);
      } finally {
        await vm.close();
        removeState(kernel, vm.snapshotKey);
      }
    });
  }

  for (const d of damagesOn(kernel)) {
    it.skipIf(reason !== null)(...caseOf(caseId('snapshot-damaged', d.name), `a ${d.name} state file: the restore fails, the state is removed, a cold boot saves a new one`, opts), async () => {
      // The default shape's state in this file's directory (copied by
      // snapshot-restore; here if that did not run). The cases after this
      // one restore from the state it saves.
      if (defaultKey === null || !fs.existsSync(snapshotPaths(kernel, defaultKey).state)) defaultKey = await copySharedState(kernel);
      const { state } = snapshotPaths(kernel, defaultKey!);
      d.damage(state);
      // The bytes, not the inode: a file written after the damaged one was removed can get its inode number.
      const damaged = createHash('sha256').update(fs.readFileSync(state)).digest('hex');
      const statuses: string[] = [];
      const vm = await Vm.boot({ kernel, onStatus: (m) => statuses.push(m) });
      try {
        expect(statuses.join('\n')).toMatch(/snapshot [0-9a-f]{12} did not restore \(.+\): removed; cold boot, then saving the state/);
        expect(vm.snapshotKey).toBe(defaultKey);
        expect(vm.snapshotSaved?.coldBootMs).toBeGreaterThan(0);
        expect(vm.restored).toBe(true);
        expect(createHash('sha256').update(fs.readFileSync(state)).digest('hex')).not.toBe(damaged);
        expect((await vm.exec('cat', ['/proc/cmdline'])).stdout.trim()).toBe(vm.cmdline);
      } finally {
        await vm.close();
      }
    });
  }

  it.skipIf(reason !== null)(...caseOf('snapshot-crash', 'a WARN in a restored guest fails the run as in a cold-booted one', opts), async () => {
    await bootOnce({ kernel });
    const vm = await Vm.boot({ kernel, modules: ['mltrigger'] });
    try {
      expect(vm.restored).toBe(true);
      const err = await vm
        .exec('sh', ['-c', 'echo warn > /dev/mltrigger'])
        .then(() => vm.close())
        .then(
          () => null,
          (e: unknown) => e,
        );
      expect(err).toBeInstanceOf(VmCrashError);
      expect((err as VmCrashError).kind).toBe('warning');
      expect((err as VmCrashError).console).toContain('mltrigger: warning requested by user space (count 1)');
    } finally {
      await vm.kill();
    }
    expect(ourQemuPids()).toEqual([]);
  });

  it.skipIf(reason !== null)(...caseOf('snapshot-concurrent', 'two guests restored from one state at once both work, and neither sees the other\'s writes', opts), async () => {
    await bootOnce({ kernel });
    const [a, b] = await Promise.all([Vm.boot({ kernel }), Vm.boot({ kernel })]);
    try {
      expect([a.restored, b.restored]).toEqual([true, true]);
      expect(a.snapshotKey).toBe(b.snapshotKey);
      const write = (vm: Vm, token: string): Promise<{ status: number }> => vm.exec('sh', ['-c', `echo ${token} > /tmp/token; sync`]);
      expect((await write(a, 'from-a')).status).toBe(0);
      expect((await write(b, 'from-b')).status).toBe(0);
      expect((await a.exec('cat', ['/tmp/token'])).stdout).toBe('from-a\n');
      expect((await b.exec('cat', ['/tmp/token'])).stdout).toBe('from-b\n');
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
    // The saved state is untouched by both (its RAM is mapped copy-on-write).
    const c = await Vm.boot({ kernel });
    try {
      expect(c.restored).toBe(true);
      expect((await c.exec('cat', ['/tmp/token'])).status).toBe(1);
    } finally {
      await c.close();
    }
    expect(ourQemuPids()).toEqual([]);
  });
});
