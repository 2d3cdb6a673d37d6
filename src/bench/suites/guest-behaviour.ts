// The GUP-versus-HMM behaviour matrix: for each CPU-side event (MADV_DONTNEED
// then a CPU write, munmap, mprotect, fork + COW, ...) and each mirror mode,
// what the device really read afterwards against what the CPU sees there, and
// the invalidation records the driver got. The guest runs the same scenario
// functions as test/guest/mirrordrm.test.ts (src/guest/mirrordrm/); this file
// only turns what they returned into findings. Nothing is assumed per mode:
// an outcome is always derived from the bytes (or the errno) the device got.
import { mirrordrmScenarios as GUEST } from '../../guest/index.js';
import type { Finding, FindingRecord } from '../../report/results.js';
import type { Suite, SuiteContext } from '../suite.js';
import type { Vm } from '../../vm/vm.js';
import { guestSuiteUnsupported, withGuest } from './guest-common.js';

/** The modes of the matrix: a pin, a long-term pin, and a notifier without references. */
export const BEHAVIOUR_MODES = ['gup', 'gup-longterm', 'hmm'] as const;
export type BehaviourMode = (typeof BEHAVIOUR_MODES)[number];

/** A device access as the scenarios return it (src/guest/common.ts attempt()). */
export type Access<T> = { ok: true; value: T } | { ok: false; code: string; errno: number };

/** The fields of a scenario's invalidation record that a finding keeps. */
export interface RawRecord {
  event: string;
  relStart: number;
  relEnd: number;
  blockable: boolean;
}

export function findingRecords(records: RawRecord[]): FindingRecord[] {
  return records.map((r) => ({ event: r.event, start: r.relStart, end: r.relEnd, blockable: r.blockable }));
}

const hex = (b: number): string => `0x${b.toString(16).padStart(2, '0')}`;

/**
 * The outcome of one device read of one byte against the CPU's view of the
 * same address: `cpu` is the byte the CPU reads there, or null when the CPU
 * no longer maps the page (a CPU access would fault).
 */
export function judgeByte(device: Access<number>, cpu: number | null): Pick<Finding, 'outcome' | 'detail'> {
  const cpuSays = cpu === null ? 'the CPU no longer maps the page' : `the CPU reads ${hex(cpu)}`;
  if (!device.ok) return { outcome: 'error', detail: `device access failed with ${device.code}; ${cpuSays}` };
  if (cpu === null) return { outcome: 'stale', detail: `device read ${hex(device.value)} from a page the CPU no longer maps` };
  return { outcome: device.value === cpu ? 'coherent' : 'stale', detail: `device read ${hex(device.value)}, ${cpuSays}` };
}

/** The first byte of a device read that returns an array of bytes. */
export function firstByte(a: Access<number[]>): Access<number> {
  return a.ok ? { ok: true, value: a.value[0] } : a;
}

/** A finding before the suite names its event. */
export type ModeFinding = Omit<Finding, 'event'>;

/** One event of the matrix: its name and how to run it in a guest for the given modes. */
interface BehaviourEvent {
  name: string;
  /** In --quick runs too. Each event takes well under a second of guest time; --quick keeps to the
   *  handful that show the modes apart, a full run adds the rest. */
  quick: boolean;
  /** The findings per mode, or why the event cannot run on this guest. */
  run(vm: Vm, modes: readonly BehaviourMode[]): Promise<ModeFinding[] | { skipped: string }>;
}

const perMode = async (modes: readonly BehaviourMode[], fn: (mode: BehaviourMode) => Promise<ModeFinding>): Promise<ModeFinding[]> => {
  const out: ModeFinding[] = [];
  for (const mode of modes) out.push(await fn(mode));
  return out;
};

/**
 * mprotect(PROT_READ) of a 4-page buffer filled with 2 (mprotectReadOnly):
 * it changes access, not bytes, so the CPU still reads 2 wherever its page
 * table still maps the page readable (the driver's snapshot says so).
 */
function mprotectEvent(name: string, downgrade: boolean): BehaviourEvent {
  return {
    name,
    quick: true,
    run: (vm, modes) =>
      perMode(modes, async (mode) => {
        const r = await vm.call(GUEST, 'mprotectReadOnly', mode, downgrade);
        const cpu = r.snap[0].cpu.startsWith('V') ? 2 : null;
        return { mode, ...judgeByte(firstByte(r.after), cpu), records: findingRecords(r.records) };
      }),
  };
}

/**
 * Fork + COW (forkCow): one guest call runs every mode side by side, each on
 * its own page; the child writes 0x33, the parent 0x32, in the given order.
 */
function forkEvent(name: string, order: 'child-first' | 'parent-first', quick: boolean): BehaviourEvent {
  return {
    name,
    quick,
    run: async (vm, modes) => {
      const r = await vm.call(GUEST, 'forkCow', order);
      return modes.map((mode) => {
        const m = r.modes.find((x) => x.mode === mode);
        if (!m) throw new Error(`forkCow returned no result for ${mode}`);
        const records = m.records.map(([event, start, end, , , blockable]) => ({ event: String(event), start: Number(start), end: Number(end), blockable: Boolean(blockable) }));
        return { mode, ...judgeByte({ ok: true, value: m.device }, m.cpu), records };
      });
    },
  };
}

/** mremap of a 4-page buffer filled with 0x40 (mremapCases): the device's read of page 0 against the CPU's byte there. */
function mremapEvent(name: string, kind: 'move' | 'dontunmap', quick: boolean): BehaviourEvent {
  return {
    name,
    quick,
    run: (vm, modes) =>
      perMode(modes, async (mode) => {
        const all = (await vm.call(GUEST, 'mremapCases', mode)) as Record<string, { records: RawRecord[]; after: Access<number[]>; cpu: { after: number | null } }>;
        const r = all[kind];
        return { mode, ...judgeByte(firstByte(r.after), r.cpu.after), records: findingRecords(r.records) };
      }),
  };
}

export const BEHAVIOUR_EVENTS: BehaviourEvent[] = [
  {
    // The misleading pin: the CPU gets a new page, a kept pin the old one.
    name: 'MADV_DONTNEED, then a CPU write',
    quick: true,
    run: (vm, modes) =>
      perMode(modes, async (mode) => {
        const r = await vm.call(GUEST, 'misleadingPin', mode);
        return { mode, ...judgeByte({ ok: true, value: r.device }, r.cpu), records: findingRecords(r.records) };
      }),
  },
  {
    name: 'munmap of 1 page of 4',
    quick: true,
    run: (vm, modes) =>
      perMode(modes, async (mode) => {
        const r = await vm.call(GUEST, 'munmapPartial', mode);
        // The driver's snapshot walks the CPU page table: anything but 'V' (valid; 'E' is
        // the walk's error) means the CPU has no page there. A mapped page would hold the fill, 1.
        const cpu = r.snap[1].cpu.startsWith('V') ? 1 : null;
        return { mode, ...judgeByte(firstByte(r.after), cpu), records: findingRecords(r.records) };
      }),
  },
  mprotectEvent('mprotect(PROT_READ)', false),
  // The driver keeps read access when the kernel says the update leaves the
  // range readable (mmu_notifier_range_update_to_read_only, gone in 6.5).
  mprotectEvent('mprotect(PROT_READ), driver keeps read-only access', true),
  forkEvent('fork, child writes, then parent writes', 'child-first', true),
  forkEvent('fork, parent writes while the child waits', 'parent-first', false),
  mremapEvent('mremap move (MREMAP_MAYMOVE|FIXED)', 'move', false),
  mremapEvent('mremap move with MREMAP_DONTUNMAP', 'dontunmap', false),
  {
    name: 'MADV_FREE (no memory pressure)',
    quick: false,
    run: (vm, modes) =>
      perMode(modes, async (mode) => {
        const r = (await vm.call(GUEST, 'madviseCases', mode)) as Record<string, unknown>;
        const free = r.FREE as { records: RawRecord[]; device: Access<number[]>; cpu: number };
        return { mode, ...judgeByte(firstByte(free.device), free.cpu), records: findingRecords(free.records) };
      }),
  },
  {
    // move_pages of 8 pages to the other NUMA node: the device reads the whole
    // buffer and compares it with the pattern the CPU wrote (and still reads).
    name: 'NUMA migration (move_pages)',
    quick: false,
    run: async (vm, modes) => {
      const out: ModeFinding[] = [];
      for (const mode of modes) {
        const r = await vm.call(GUEST, 'numaMigrate', mode);
        if (!r.available) return { skipped: r.reason };
        const moved = r.moved.ok ? `move_pages left ${r.moved.value.result} of 8 pages where they were` : `move_pages failed with ${r.moved.code}`;
        const records = r.moveRecords.map(([event, start, end], i) => ({ event, start, end, blockable: r.moveBlockable[i] }));
        if (!r.readMove.ok) {
          out.push({ mode, outcome: 'error', detail: `device read failed with ${r.readMove.code}; ${moved}`, records });
          continue;
        }
        const coherent = r.readMove.value && r.cpuSame;
        const detail = `device read ${r.readMove.value ? 'the same 32 KiB' : 'different bytes'} as the CPU${r.cpuSame ? '' : ' (the CPU bytes changed)'}; ${moved}`;
        out.push({ mode, outcome: coherent ? 'coherent' : 'stale', detail, records });
      }
      return out;
    },
  },
];

export function behaviourEvents(quick: boolean): BehaviourEvent[] {
  return BEHAVIOUR_EVENTS.filter((e) => !quick || e.quick);
}

export const guestBehaviourSuite: Suite = {
  id: 'guest/behaviour',
  title: 'mirrordrm behaviour matrix: what the device reads after each CPU-side event, GUP vs GUP-longterm vs HMM',
  environment: 'guest',
  async unsupported(kernel) {
    return guestSuiteUnsupported(kernel, ['mirrordrm']);
  },
  steps: (ctx) => behaviourEvents(ctx.quick).length,
  async run(ctx: SuiteContext) {
    const kernel = ctx.kernel!;
    await withGuest(ctx, { kernel, iomemMiB: 0, hugepages1G: 0, hugepages2M: 8 }, async (vm) => {
      await vm.loadModule('mirrordrm');
      // NUMA balancing (two nodes) adds PROTECTION_VMA records in the
      // background, and khugepaged may collapse a split range; the scenarios'
      // records must be theirs alone.
      await vm.call(GUEST, 'setNumaBalancing', 0);
      await vm.call(GUEST, 'khugepagedScanSleep', 24 * 3600 * 1000);
      for (const event of behaviourEvents(ctx.quick)) {
        if (ctx.signal.aborted) return;
        const found = await event.run(vm, BEHAVIOUR_MODES);
        if ('skipped' in found) {
          ctx.check({ name: `${kernel} ${event.name}`, status: 'skip', reason: found.skipped });
          ctx.step(`${event.name}: skipped`);
          continue;
        }
        for (const f of found) ctx.finding({ event: event.name, ...f });
        // Every event of the scenarios invalidates the mirror at least once.
        const silent = found.filter((f) => f.records.length === 0);
        ctx.check({
          name: `${kernel} ${event.name}: an invalidation reached every mode`,
          status: silent.length ? 'fail' : 'pass',
          ...(silent.length ? { reason: `no record for ${silent.map((f) => f.mode).join(', ')}` } : {}),
        });
        ctx.step(event.name);
      }
    });
  },
};
