// fakevram fault-in in the guests: a device-memory mapping (the reserved iomem
// range, no struct pages) faulted in with 4 KiB, 2 MiB or 1 GiB entries, per
// fault or prefault-whole (the first fault fills the whole mapping), for a
// workload touching every 4 KiB and one touching 1 byte per 2 MiB. Cases run
// interleaved in every round, so the ratios come from one run. Fault counts
// are measurements too (unit 'count') and are checked against the entry size.
import type { FaultCase, FaultRoundSample } from '../../guest/fakevram.js';
import { fakevramSteps as GUEST } from '../../guest/index.js';
import type { EntrySize } from '../../devmem/fakevram.js';
import { roundRatio, toMeasurement, type RepeatResult } from '../../measure/repeat.js';
import type { Comparison, Measurement } from '../../report/results.js';
import type { Suite, SuiteContext } from '../suite.js';
import { GiB, guestSuiteUnsupported, repeatRounds, withGuest } from './guest-common.js';

const ENTRY_BYTES: Record<EntrySize, number> = { pte: 4096, pmd: 2 << 20, pud: GiB };
const WORKLOADS = [
  { name: 'touch-all', stride: 4096, title: 'every 4 KiB touched' },
  { name: 'touch-1-per-2M', stride: 2 << 20, title: '1 byte per 2 MiB touched' },
] as const;
const POLICIES = [
  { name: 'per-fault', prefault: false },
  { name: 'prefault', prefault: true },
] as const;

interface Case extends FaultCase {
  key: string;
  workload: (typeof WORKLOADS)[number];
  policy: (typeof POLICIES)[number]['name'];
}

function expectedFaults(c: Case): { min: number; max: number } {
  if (c.prefault) {
    // The first fault fills the mapping; with PMD entries a 1 GiB mapping that
    // is only 2 MiB aligned spans two PUD slots, and the second is filled by
    // its own fault (see test/guest/fakevram.test.ts).
    return { min: 1, max: c.maxEntry === 'pmd' ? Math.ceil(c.length / GiB) + 1 : 1 };
  }
  const per = Math.max(ENTRY_BYTES[c.maxEntry], c.stride);
  const n = Math.ceil(c.length / per);
  return { min: n, max: n };
}

export const guestFakevramSuite: Suite = {
  id: 'guest/fakevram',
  title: 'fakevram fault-in: pte vs pmd vs pud, per fault vs prefault-whole',
  environment: 'guest',
  async unsupported(kernel) {
    return guestSuiteUnsupported(kernel, ['fakevram']);
  },
  steps: () => 2,
  async run(ctx: SuiteContext) {
    const kernel = ctx.kernel!;
    // The mapping stays 1 GiB in quick runs too: it is the smallest that can
    // hold a PUD entry. Quick runs have fewer rounds (ctx.repeat).
    const length = GiB;
    await withGuest(ctx, { kernel, callTimeoutMs: 600_000 }, async (vm) => {
      await vm.loadModule('fakevram', { kind: 'iomem', base: vm.iomem.base, size: vm.iomem.size });
      const info = await vm.call(GUEST, 'info');
      const entries = (['pte', 'pmd', 'pud'] as EntrySize[]).filter((e) => info.supports[e]);
      for (const e of ['pmd', 'pud'] as EntrySize[]) {
        if (!info.supports[e]) {
          ctx.check({ name: `${e} entries on ${kernel}`, status: 'skip', reason: `kernel ${info.kernel} has no huge pfnmap (no ARCH_SUPPORTS_${e.toUpperCase()}_PFNMAP, added in 6.12): the fault handler only ever inserts 4 KiB entries` });
        }
      }
      const cases: Case[] = [];
      for (const workload of WORKLOADS) {
        for (const policy of POLICIES) {
          for (const maxEntry of entries) {
            cases.push({ key: `${workload.name}/${policy.name}/${maxEntry}`, workload, policy: policy.name, maxEntry, prefault: policy.prefault, stride: workload.stride, length });
          }
        }
      }
      ctx.step(`${kernel}: fakevram loaded (${entries.join(', ')})`);

      const rounds: FaultRoundSample[][] = [];
      const times = await repeatRounds(
        async () => {
          const r = await vm.call(GUEST, 'faultRound', cases.map(({ maxEntry, prefault, stride, length: l }) => ({ maxEntry, prefault, stride, length: l })));
          rounds.push(r);
          return Object.fromEntries(cases.map((c, i) => [c.key, [r[i].ns / 1e6]]));
        },
        ctx.repeat,
        ctx.signal,
      );
      if (!rounds.length) return;

      const byKey = new Map<string, Measurement>();
      for (const [i, c] of cases.entries()) {
        const t = times.get(c.key);
        if (!t) continue;
        const params = { entry: c.maxEntry, policy: c.policy, workload: c.workload.name, length };
        const m = toMeasurement({ id: `fault-in/${c.key}`, title: `fault-in of ${length / GiB} GiB, ${c.workload.title}, ${c.policy}, up to ${c.maxEntry}`, unit: 'ms', params }, t);
        ctx.measurement(m);
        byKey.set(c.key, m);
        // Fault counts of the same rounds: round 0 cold, the rest as measured.
        const counts = rounds.map((r) => r[i].faults.pte + r[i].faults.pmd + r[i].faults.pud);
        const warmCounts = counts.slice(counts.length - t.warm.length);
        const countResult: RepeatResult = { cold: t.cold.length ? [counts[0]] : [], warm: warmCounts, roundMedians: warmCounts, stable: new Set(warmCounts).size === 1, tolerance: 0 };
        ctx.measurement(toMeasurement({ id: `faults/${c.key}`, title: `faults taken, ${c.workload.title}, ${c.policy}, up to ${c.maxEntry}`, unit: 'count', params }, countResult));
        if (c.stride === 4096) {
          // The same writes again over the mapped range: the cost of the
          // touches alone, to set beside the fault-in time.
          const re = rounds.map((r) => (r[i].retouchNs ?? 0) / 1e6);
          const warmRe = re.slice(re.length - t.warm.length);
          const reResult: RepeatResult = { cold: t.cold.length ? [re[0]] : [], warm: warmRe, roundMedians: warmRe, stable: true, tolerance: 0 };
          const rm = toMeasurement({ id: `retouch/${c.key}`, title: `the same writes again, mapped (no fault), ${c.workload.title}, ${c.policy}, up to ${c.maxEntry}`, unit: 'ms', params }, reResult);
          ctx.measurement(rm);
          byKey.set(`retouch:${c.key}`, rm);
          const faulted = rounds.map((r) => r[i].retouchFaults).filter((n) => n !== 0);
          ctx.check({
            name: `${kernel} ${c.key}: writing the mapped range again takes no fault`,
            status: faulted.length ? 'fail' : 'pass',
            ...(faulted.length ? { reason: `faults on the second pass: ${faulted.join(', ')}` } : {}),
          });
        }
        const exp = expectedFaults(c);
        const bad = counts.filter((n) => n < exp.min || n > exp.max);
        ctx.check({
          name: `${kernel} ${c.key}: ${exp.min === exp.max ? exp.min : `${exp.min}..${exp.max}`} fault(s) per fault-in`,
          status: bad.length ? 'fail' : 'pass',
          ...(bad.length ? { reason: `fault counts per round: ${counts.join(', ')}` } : {}),
        });
        if (!c.prefault) {
          const wrong = rounds.map((r) => r[i]).filter((s) => !s.aligned || s.faults[c.maxEntry] !== s.faults.pte + s.faults.pmd + s.faults.pud);
          ctx.check({
            name: `${kernel} ${c.key}: every fault inserted a ${c.maxEntry} entry at an address aligned for it`,
            status: wrong.length ? 'fail' : 'pass',
            ...(wrong.length ? { reason: JSON.stringify(wrong[0]) } : {}),
          });
        }
      }

      const cmp = (id: string, title: string, a: string, b: string, target?: number): void => {
        const ma = byKey.get(a);
        const mb = byKey.get(b);
        if (!ma || !mb) return;
        const ratio = roundRatio(ma, mb);
        const c: Comparison = { id, title, a: ma.id, b: mb.id, ratio };
        if (target !== undefined) c.target = { op: '>=', value: target, met: ratio.median >= target };
        ctx.comparison(c);
      };
      const targets = kernel !== '6.1';
      for (const w of WORKLOADS) {
        const t = w.name === 'touch-all' && targets;
        cmp(`pte/pmd ${w.name}`, `pte over pmd fault-in time, ${w.title}`, `${w.name}/per-fault/pte`, `${w.name}/per-fault/pmd`, t ? 100 : undefined);
        cmp(`pte/pud ${w.name}`, `pte over pud fault-in time, ${w.title}`, `${w.name}/per-fault/pte`, `${w.name}/per-fault/pud`, t ? 1000 : undefined);
        for (const e of entries) cmp(`per-fault/prefault ${w.name} ${e}`, `per-fault over prefault-whole, up to ${e}, ${w.title}`, `${w.name}/per-fault/${e}`, `${w.name}/prefault/${e}`);
        for (const p of POLICIES) {
          ctx.plot({ kind: 'bars', title: `${kernel}: fault-in of ${length / GiB} GiB, ${w.title}, ${p.name}`, label: 'entry', measurements: entries.map((e) => `fault-in/${w.name}/${p.name}/${e}`) });
        }
      }
      for (const e of entries) cmp(`fault-in/retouch ${e}`, `fault-in over the same writes on the mapped range, up to ${e}, every 4 KiB touched`, `touch-all/per-fault/${e}`, `retouch:touch-all/per-fault/${e}`);
      ctx.plot({ kind: 'bars', title: `${kernel}: faults taken, every 4 KiB touched, per fault`, label: 'entry', measurements: entries.map((e) => `faults/touch-all/per-fault/${e}`) });
      ctx.step(`${kernel}: ${rounds.length} rounds of ${cases.length} cases`);
    });
  },
};
