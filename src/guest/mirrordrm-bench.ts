// Guest-side rounds of the mirrordrm benchmark (the suite src/bench/suites/
// guest-mirrordrm.ts and test/guest/mirrordrm-bench.test.ts), called through
// Vm.call(mirrordrmBench, ...). Each call is one round and returns raw
// samples, so the host builds the measurements (cold round, warm rounds,
// spread). A buffer stays mapped between rounds (open / round / close), so a
// round times only registration.
import { native } from '../addon.js';
import { Mapping } from '../memory/mapping.js';
import { MockDrm } from '../mirror/mockdrm.js';
import { MIRROR_MODES, type MirrorMode } from '../mirror/types.js';
import { MIRRORDRM, MODE_FLAGS } from '../mirror/uapi.js';
import { PAGE, mapBacking, type Backing } from './common.js';

export type BenchBacking = Extract<Backing, 'anon' | 'thp' | 'hugetlb-2M'>;

/**
 * USERPTR flags of each registration mode: the mirror modes, where hmm
 * populates (the whole range is faulted in at creation, as GUP does), and
 * hmm-lazy (registration only, pages faulted in at the first access).
 */
export const REGISTRATION_MODES: Readonly<Record<string, number>> = {
  ...Object.fromEntries(MIRROR_MODES.map((m) => [m, MODE_FLAGS[m] | (m === 'hmm' ? MIRRORDRM.POPULATE : 0)])),
  'hmm-lazy': MIRRORDRM.MODE_HMM,
};

interface Open {
  dev: MockDrm;
  map: Mapping;
}
const open = new Map<number, Open>();
let nextId = 1;

/**
 * Maps and populates `size` bytes of `backing` for registration rounds.
 * Returns the id and the CPU mapping order the kernel really used (from
 * hmm_range_fault through the driver's snapshot: 0 = 4 KiB, 9 = 2 MiB).
 */
export async function registrationOpen(backing: BenchBacking, size: number): Promise<{ id: number; mapOrder: number }> {
  const dev = MockDrm.open();
  let map: Mapping | undefined;
  try {
    map = mapBacking(backing, size);
    native.patternFill(map.address, size, 1n, 0); // resident pages: registration, not first touch
    const probe = dev.userptrSync({ address: map.address, length: size }, { mode: 'hmm', populate: true });
    const mapOrder = probe.snapshot(0, 1)[0].cpu.order;
    probe.close();
    const id = nextId++;
    open.set(id, { dev, map });
    return { id, mapOrder };
  } catch (e) {
    map?.unmap();
    dev.close();
    throw e;
  }
}

/**
 * One round: `reps` registrations per mode, modes interleaved, each object
 * closed (untimed) before the next. The order of the modes rotates with the
 * round and the repetition, so no mode always runs right after the same one.
 * Samples are ns per page.
 */
export async function registrationRound(id: number, modes: readonly string[], reps: number, round = 0): Promise<Record<string, number[]>> {
  const o = open.get(id);
  if (!o) throw new Error(`no registration buffer ${id}`);
  const pages = o.map.length / PAGE;
  const out: Record<string, number[]> = {};
  for (let r = 0; r < reps; r++) {
    const k = (round + r) % modes.length;
    for (const m of [...modes.slice(k), ...modes.slice(0, k)]) {
      const ns = native.mirrordrm.timeUserptr(o.dev.fd, o.map.address, o.map.length, REGISTRATION_MODES[m], 1) as BigUint64Array;
      (out[m] ??= []).push(Number(ns[0]) / pages);
    }
  }
  return out;
}

export async function registrationClose(id: number): Promise<void> {
  const o = open.get(id);
  if (!o) return;
  open.delete(id);
  o.map.unmap();
  o.dev.close();
}

/**
 * One round of revalidation cost: a device read of `size` bytes, `reps`
 * times warm and `reps` times right after MADV_DONTNEED of the whole buffer
 * (the device first revalidates: hmm_range_fault, or a new pin for
 * gup-repin). Samples are ns per read, by "mode/state"; revalidations are
 * the object's counter, by mode, to show each read after DONTNEED really
 * revalidated.
 */
export async function revalidationRound(size: number, reps: number): Promise<{ samples: Record<string, number[]>; revalidations: Record<string, number> }> {
  using dev = MockDrm.open();
  const md = native.mirrordrm;
  const samples: Record<string, number[]> = {};
  const revalidations: Record<string, number> = {};
  for (const [name, opts] of [
    ['hmm', { mode: 'hmm' as MirrorMode, populate: true }],
    ['gup-repin', { mode: 'gup' as MirrorMode, repin: true }],
  ] as const) {
    using m = Mapping.anonymous(size);
    native.patternFill(m.address, size, 3n, 0);
    using buf = dev.userptrSync({ address: m.address, length: size }, opts);
    const READ = MIRRORDRM.ACCESS_READ;
    samples[`${name}/warm`] = Array.from(md.timeAccess(dev.fd, buf.handle, 0, size, READ, reps, -1, 0n, 0) as BigUint64Array, Number);
    samples[`${name}/after-dontneed`] = Array.from(md.timeAccess(dev.fd, buf.handle, 0, size, READ, reps, native.mmConstants.MADV_DONTNEED, m.address, size) as BigUint64Array, Number);
    revalidations[name] = buf.stats().revalidations;
  }
  return { samples, revalidations };
}

/**
 * One round of callback cost: per mode, a populated 16-page object sees
 * mprotect (PROTECTION_VMA), MADV_DONTNEED (CLEAR) and munmap (UNMAP); the
 * samples are the driver's own timing of each invalidation callback (ns), by
 * "mode/EVENT".
 */
export async function callbackRound(reps: number): Promise<Record<string, number[]>> {
  using dev = MockDrm.open();
  const c = native.mmConstants;
  const out: Record<string, number[]> = {};
  for (let i = 0; i < reps; i++) {
    for (const mode of ['gup', 'hmm'] as MirrorMode[]) {
      const m = Mapping.anonymous(16 * PAGE);
      native.patternFill(m.address, m.length, 4n, 0);
      const buf = dev.userptrSync({ address: m.address, length: m.length }, { mode, populate: mode === 'hmm' });
      dev.drainInvalidations();
      m.protect('r');
      m.protect('rw');
      buf.readSync(0, m.length);
      native.madvise(m.address, m.length, c.MADV_DONTNEED);
      buf.readSync(0, m.length);
      m.unmap();
      for (const x of dev.drainInvalidations().records) if (x.handle === buf.handle) (out[`${mode}/${x.event}`] ??= []).push(x.durationNs);
      buf.close();
    }
  }
  return out;
}

/**
 * An anonymous mapping with a `size`-byte window aligned to min(size, 2 MiB)
 * (so drm_gpusvm can use its largest chunk that fits), in 4 KiB pages
 * (MADV_NOHUGEPAGE: THP would change the mapping order between modes), every
 * page resident: a device fault then times the device side, not CPU faults.
 */
function alignedResident(size: number): { addr: bigint; base: bigint; len: number } {
  const c = native.mmConstants;
  const align = Math.min(size, 2 << 20);
  const len = size + align;
  const base: bigint = native.mmap(0n, len, c.PROT_READ | c.PROT_WRITE, c.MAP_PRIVATE | c.MAP_ANONYMOUS, -1, 0);
  native.madvise(base, len, c.MADV_NOHUGEPAGE);
  const a = BigInt(align);
  const addr = ((base + a - 1n) / a) * a;
  native.patternFill(addr, size, 5n, 0);
  return { addr, base, len };
}

/**
 * One round of svm against hmm: per mode (order rotating with the round), a
 * fresh object on `size` resident bytes, registered without populating
 * (untimed); then the first device read of the whole object (device faults:
 * hmm_range_fault per 1 MiB chunk for hmm; for svm range find-or-insert,
 * notifier insertion and get_pages per range), then munmap of the object
 * (the syscall, with the invalidation in it) and the time the driver spent
 * in its callback for that munmap. Samples in ns by "mode/what".
 */
export async function svmRound(size: number, reps: number, round = 0): Promise<Record<string, number[]>> {
  using dev = MockDrm.open();
  const md = native.mirrordrm;
  const modes: MirrorMode[] = round % 2 ? ['svm', 'hmm'] : ['hmm', 'svm'];
  const out: Record<string, number[]> = {};
  const push = (k: string, v: number) => (out[k] ??= []).push(v);
  for (let r = 0; r < reps; r++) {
    for (const mode of modes) {
      const m = alignedResident(size);
      try {
        const buf = dev.userptrSync({ address: m.addr, length: size }, { mode });
        const t = md.timeAccess(dev.fd, buf.handle, 0, size, MIRRORDRM.ACCESS_READ, 1, -1, 0n, 0) as BigUint64Array;
        push(`${mode}/fault`, Number(t[0]));
        if (buf.stats().pagesValid !== size / PAGE) throw new Error(`${mode}: ${buf.stats().pagesValid} of ${size / PAGE} pages mapped after the first read`);
        dev.drainInvalidations();
        const t0 = process.hrtime.bigint();
        native.munmap(m.addr, size);
        push(`${mode}/munmap`, Number(process.hrtime.bigint() - t0));
        let cb = 0;
        for (const x of dev.drainInvalidations().records) if (x.handle === buf.handle) cb += x.durationNs;
        push(`${mode}/callback`, cb);
        buf.close();
      } finally {
        native.munmap(m.base, m.len);
      }
    }
  }
  return out;
}
