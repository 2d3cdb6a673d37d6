// Guest-side rounds of the mirrordrm benchmark suite (src/bench/suites/
// guest-mirrordrm.ts), called through vm.call('mirror/guest-bench.js', ...).
// Each call is one round and returns raw samples, so the host builds the
// measurements (cold round, warm rounds, spread). A buffer stays mapped
// between rounds (open / round / close), so a round times only registration.
import { native } from '../addon.js';
import { Mapping } from '../memory/mapping.js';
import { MockDrm } from './mockdrm.js';
import type { MirrorMode } from './types.js';

const PAGE = 4096;

export type BenchBacking = 'anon' | 'thp' | 'hugetlb-2M';
/** USERPTR flags of each registration mode (hmm populates: the whole range is faulted in at creation, as GUP does). */
export const REGISTRATION_MODES: Record<string, number> = { gup: 0x1, 'gup-longterm': 0x2, 'gup-get': 0x3, hmm: 0x4 | 0x20 };

interface Open {
  dev: MockDrm;
  map: Mapping;
}
const open = new Map<number, Open>();
let nextId = 1;

function mapBacking(b: BenchBacking, length: number): Mapping {
  switch (b) {
    case 'anon':
      return Mapping.anonymous(length);
    case 'thp':
      return Mapping.anonymous(length, { thp: true });
    case 'hugetlb-2M':
      return Mapping.hugetlb(length, '2M');
  }
}

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
export async function registrationRound(id: number, modes: string[], reps: number, round = 0): Promise<Record<string, number[]>> {
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
 * gup-repin). Samples are ns per read.
 */
export async function revalidationRound(size: number, reps: number): Promise<Record<string, number[]>> {
  using dev = MockDrm.open();
  const md = native.mirrordrm;
  const out: Record<string, number[]> = {};
  for (const [name, opts] of [
    ['hmm', { mode: 'hmm' as MirrorMode, populate: true }],
    ['gup-repin', { mode: 'gup' as MirrorMode, repin: true }],
  ] as const) {
    using m = Mapping.anonymous(size);
    native.patternFill(m.address, size, 3n, 0);
    using buf = dev.userptrSync({ address: m.address, length: size }, opts);
    out[`${name}/warm`] = Array.from(md.timeAccess(dev.fd, buf.handle, 0, size, 1, reps, -1, 0n, 0) as BigUint64Array, Number);
    out[`${name}/after-dontneed`] = Array.from(md.timeAccess(dev.fd, buf.handle, 0, size, 1, reps, native.mmConstants.MADV_DONTNEED, m.address, size) as BigUint64Array, Number);
  }
  return out;
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
