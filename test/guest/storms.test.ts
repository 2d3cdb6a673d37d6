// Storms against mirrordrm in QEMU guests on 6.1, 6.12 and 7.2: thousands of
// objects over one range, the invalidation log overflowing, device reads from
// both vCPUs racing munmap, mremap, fork and exit, and a process killed while
// it holds userfaults. Each asserts exact outcomes (records, lost counts,
// per-thread read outcomes by errno, FOLL_PIN counters) and that the guest
// console has no kernel report; the module must unload afterwards.
import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { caseId, caseOf } from './cases.js';
import { ensureGuestBuild, kernels, sharedVm, skipReason } from './helpers.js';
import { mirrordrmScenarios, stormScenarios } from '../../src/guest/index.js';
import { matchCrash } from '../../src/vm/crash.js';
import { repoRoot } from '../../src/paths.js';
import type { GuestArgs, GuestFunctions } from '../../src/vm/guest-module.js';

type Storms = typeof import('../../src/guest/storms.js');

/** The log ring size the module is built with (records per open file). */
const RING = Number(/^#define MDRM_LOG_SIZE\s+(\d+)/m.exec(fs.readFileSync(path.join(repoRoot, 'kernel-patches/mirrordrm/mirrordrm.h'), 'utf8'))![1]);
const OBJECTS = 4096;
const PAGES = 4;
const PAGE = 4096;

for (const series of kernels()) {
  const reason = skipReason(series);
  describe.skipIf(reason !== null)(`storms on ${series}`, () => {
    beforeAll(() => ensureGuestBuild([series]), 600_000);
    const guest = sharedVm(() => ({ kernel: series, modules: ['mirrordrm'] }));
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    const call = <K extends GuestFunctions<Storms>>(name: K, ...args: GuestArgs<Storms, K>): Promise<any> => guest.vm.call(stormScenarios, name, ...args);
    let release = '';

    beforeAll(async () => {
      release = await guest.vm.call(mirrordrmScenarios, 'kernelRelease');
      // no background PROTECTION_VMA (NUMA hinting) or khugepaged collapse:
      // the records below are exact
      await guest.vm.call(mirrordrmScenarios, 'setNumaBalancing', 0);
      await guest.vm.call(mirrordrmScenarios, 'khugepagedScanSleep', 24 * 3600 * 1000);
    }, 60_000);

    /** Kernel reports (WARNING, BUG, Oops, lockdep, KASAN...) on the console since mark. */
    async function reportsSince(mark: number): Promise<string[]> {
      await guest.vm.sync();
      return guest.vm.log.since(mark).split('\n').filter((l) => matchCrash(l));
    }

    /** rmmod works (nothing holds the module) and the module loads again. */
    async function unloadAndReload(): Promise<string> {
      const r = await guest.vm.exec('/bin/sh', ['-c', 'rmmod mirrordrm 2>&1; echo "rmmod:$?"; grep -c "^mirrordrm " /proc/modules']);
      await guest.vm.loadModule('mirrordrm');
      return r.stdout.trim().replace(/\s+/g, ' ');
    }

    for (const mode of ['gup', 'hmm'] as const) {
      it(...caseOf(caseId('many-objects', mode), `${mode}: ${OBJECTS} objects over one ${PAGES}-page range: one munmap gives exactly one UNMAP of the range per object, all close, pins balance, the module unloads`, { timeout: 240_000 }), async () => {
        const mark = guest.vm.log.mark;
        const r = await call('manyObjects', mode, OBJECTS, PAGES);
        console.log(`[${release}] many-objects@${mode}: ${r.records} records ${JSON.stringify(r.shapes)}, lost ${r.lost}; created ${JSON.stringify(r.created)}; pins ${JSON.stringify(r.pins)}`);
        expect(r.distinctHandles).toBe(OBJECTS);
        expect(r.created).toEqual({ objects: OBJECTS, pages: OBJECTS * PAGES, pagesPinned: mode === 'gup' ? OBJECTS * PAGES : 0, pagesValid: OBJECTS * PAGES });
        expect(r.probeBytesOk).toBe(true);
        expect(r.recordsBeforeMunmap).toBe(0);
        // one record per object, all the same: the whole range, blockable;
        // GUP keeps its pins (stale), HMM drops every page
        expect(r.records).toBe(OBJECTS);
        const shape = mode === 'gup' ? `UNMAP +0 +${PAGES * PAGE} dropped 0 kept-stale` : `UNMAP +0 +${PAGES * PAGE} dropped ${PAGES}`;
        expect(r.shapes).toEqual({ [shape]: OBJECTS });
        expect(r.handlesHit).toBe(OBJECTS);
        expect(r.handlesHitOnce).toBe(OBJECTS);
        expect(r.seqContiguous).toBe(true);
        expect(r.lost).toBe(0n);
        expect(r.lostTotal).toBe(0n);
        expect(r.afterMunmap).toEqual({
          invalidations: OBJECTS,
          unmap: OBJECTS,
          pagesDropped: mode === 'gup' ? 0 : OBJECTS * PAGES,
          pagesPinned: mode === 'gup' ? OBJECTS * PAGES : 0,
          pagesValid: mode === 'gup' ? OBJECTS * PAGES : 0,
        });
        expect(r.closed).toEqual({ objects: 0, pagesPinned: 0 });
        // FOLL_PIN: exactly one pin per page per GUP object, every one given back
        expect(r.pins.created.acquired - r.pins.before.acquired).toBe(mode === 'gup' ? OBJECTS * PAGES : 0);
        expect(r.pins.after.acquired).toBe(r.pins.after.released);
        expect(await reportsSince(mark)).toEqual([]);
        expect(await unloadAndReload()).toBe('rmmod:0 0');
      });
    }

    it(...caseOf('log-overflow', `the log ring (${RING} records per file) overflowing: ${RING + 904} records give exactly ${RING} kept (the oldest, seq 1..${RING}) and 904 lost, counted per read, per file and per object`, { timeout: 240_000 }), async () => {
      const mark = guest.vm.log.mark;
      const extra = 904;
      const r = await call('logOverflow', RING + extra);
      console.log(`[${release}] log-overflow: ${r.records} records seq ${r.firstSeq}..${r.lastSeq}, reads ${r.reads.length} (first lost ${r.reads[0].lost}, lostTotal ${r.reads[0].lostTotal}, pending ${r.reads[0].pending}), file ${JSON.stringify(r.file)}, next ${JSON.stringify(r.next)}`);
      expect(r.empty).toEqual({ count: 0, lost: 0n, lostTotal: 0n, pending: 0 });
      // the ring keeps the oldest records: seq 1..RING, one per object, in order
      expect(r.records).toBe(RING);
      expect(r.firstSeq).toBe(1);
      expect(r.lastSeq).toBe(RING);
      expect(r.seqContiguous).toBe(true);
      expect(r.shapes).toEqual({ [`UNMAP +0 +${PAGE} dropped 0`]: RING });
      expect(r.keptDistinct).toBe(RING);
      expect(r.keptAllOurs).toBe(true);
      // lost: reported once, by the first read; lost_total stays
      expect(r.reads[0]).toEqual({ count: 256, lost: BigInt(extra), lostTotal: BigInt(extra), pending: RING - 256 });
      expect(r.reads.slice(1).every((x: { lost: bigint; lostTotal: bigint }) => x.lost === 0n && x.lostTotal === BigInt(extra))).toBe(true);
      expect(r.reads[r.reads.length - 1].pending).toBe(0);
      // each object whose record was dropped counts it, the others do not
      expect(r.lostObjects).toBe(extra);
      expect(r.lostObjectsAllOne).toBe(true);
      expect(r.lostObjectsCounter).toBe(extra);
      expect(r.keptObjectsCounter).toBe(0);
      expect(r.file).toEqual({ invalidations: RING + extra, unmap: RING + extra, logLost: extra });
      // the next record after the drain: its seq counts the lost ones, nothing more is lost
      expect(r.next).toEqual([{ seq: RING + extra + 1, handle: true, event: 'UNMAP' }]);
      expect(r.nextReads).toEqual([{ count: 1, lost: 0n, lostTotal: BigInt(extra), pending: 0 }]);
      expect(await reportsSince(mark)).toEqual([]);
    });

    // Per object, the records of one round ("EVENT start end dropped", offsets
    // in the range, -1 for ULONG_MAX): the same on 6.1, 6.12 and 7.2.
    const range = `0 ${16 * PAGE}`;
    const RECORDS: Record<'munmap' | 'mremap' | 'exit', [gup: string[], hmm: string[]]> = {
      munmap: [[`UNMAP ${range} 0`], [`UNMAP ${range} 16`]],
      // move_page_tables() invalidates the old range, then the old VMA goes (nothing left to drop)
      mremap: [[`UNMAP ${range} 0`, `UNMAP ${range} 0`], [`UNMAP ${range} 16`, `UNMAP ${range} 0`]],
      // RELEASE at exit_mmap(), then its unmap of everything: the notifiers are still registered
      exit: [['RELEASE 0 -1 0', 'UNMAP 0 -1 0'], ['RELEASE 0 -1 16', 'UNMAP 0 -1 0']],
    };
    const ROUNDS = 20;
    const kinds = ['munmap', 'mremap', 'fork', 'exit'] as const;
    for (const kind of kinds) {
      const hmmAfter = kind === 'fork' ? 'reads the same bytes throughout' : 'reads the bytes, then fails with EFAULT only';
      it(...caseOf(caseId('access-storm', kind), `${ROUNDS} rounds of device reads from CPU 0 and CPU 1 (GUP and HMM objects over 16 pages) racing ${kind}: no report, no wrong byte; GUP reads the bytes throughout, HMM ${hmmAfter}; exact records; pins balance`, { timeout: 180_000 }), async (ctx) => {
        const cpus = await call('onlineCpus');
        if (!cpus.includes(0) || !cpus.includes(1)) {
          console.warn(`[${release}] access-storm skipped: the guest has CPUs ${JSON.stringify(cpus)}, the storm needs 0 and 1`);
          return ctx.skip();
        }
        const mark = guest.vm.log.mark;
        const total = { reads: 0, gupOk: 0, hmmOk: 0, hmmEfault: 0 };
        for (let round = 0; round < ROUNDS; round++) {
          const r = await call('accessStorm', kind, 64, 128);
          const rec = (h: number) => r.records.filter((x: { handle: number }) => x.handle === h).map((x: { event: string; start: number; end: number; pagesDropped: number }) => `${x.event} ${x.start} ${x.end} ${x.pagesDropped}`);
          if (round === 0) {
            console.log(`[${release}] access-storm@${kind} round 0: ${r.readsAtEnd} reads (${r.readsBeforeStep} before the step), threads ${JSON.stringify(r.threads)}\n  gup ${JSON.stringify(r.gup)} hmm ${JSON.stringify(r.hmm)}\n  step ${JSON.stringify(r.step)}\n  records gup ${JSON.stringify(rec(0))} hmm ${JSON.stringify(rec(1))}\n  pins ${JSON.stringify(r.pins)}`);
          }
          // both threads ran, each only on its own CPU, and were stopped, not capped
          expect(r.threads.map((t: { cpu: number; cpusSeen: number[]; capped: boolean }) => [t.cpu, t.cpusSeen, t.capped])).toEqual([[0, [0], false], [1, [1], false]]);
          for (const t of r.threads) expect(t.firstWrong).toBe('');
          expect(r.readsBeforeStep).toBeGreaterThanOrEqual(64);
          // every read either returned the right bytes or failed with EFAULT (HMM, once the range went)
          expect(r.gup.wrong).toBe(0);
          expect(r.hmm.wrong).toBe(0);
          expect(r.gup.errors).toEqual({});
          expect(r.gup.ok + r.hmm.ok + (r.hmm.errors.EFAULT ?? 0)).toBe(r.readsAtEnd);
          expect(r.gup.ok).toBeGreaterThan(0);
          expect(r.hmm.ok).toBeGreaterThan(0);
          if (kind === 'fork') {
            expect(r.hmm.errors).toEqual({});
            expect(r.step).toEqual({ childExit: 0, childSignal: null });
            // one write-protection of the range at fork; a later HMM write
            // fault may break COW page by page (CLEAR) while the child still
            // shares the pages (not seen: the child exits at once)
            expect(rec(0)[0]).toBe(`PROTECTION_PAGE ${range} 0`);
            expect(rec(1)[0]).toBe(`PROTECTION_PAGE ${range} 16`);
            for (const h of [0, 1]) expect(rec(h).slice(1).filter((x: string) => !x.startsWith('CLEAR '))).toEqual([]);
          } else {
            expect(Object.keys(r.hmm.errors)).toEqual(['EFAULT']);
            expect(r.hmm.errors.EFAULT).toBeGreaterThan(0);
            expect([rec(0), rec(1)]).toEqual(RECORDS[kind]);
          }
          if (kind === 'mremap') expect(r.step).toEqual({ moved: true, cpuAtNewAddress: true });
          if (kind === 'exit') {
            expect(r.step.childExit).toBe(0);
            expect(r.step.childHandles).toEqual([1, 2]);
            expect(r.step.childObjects).toEqual({ gupPages: 16, gupPinned: 16, hmmFaults: 1, hmmValid: 16 });
          }
          // the GUP object kept its 16 pins until closed; nothing is left
          expect(r.objects[0].pagesPinned).toBe(16);
          expect(r.closed).toEqual({ objects: 0, pagesPinned: 0 });
          expect(r.pins.after.acquired - r.pins.before.acquired).toBe(16);
          expect(r.pins.after.acquired).toBe(r.pins.after.released);
          total.reads += r.readsAtEnd;
          total.gupOk += r.gup.ok;
          total.hmmOk += r.hmm.ok;
          total.hmmEfault += r.hmm.errors.EFAULT ?? 0;
        }
        console.log(`[${release}] access-storm@${kind}: ${ROUNDS} rounds, ${JSON.stringify(total)}`);
        expect(await reportsSince(mark)).toEqual([]);
      });
    }

    it(...caseOf('kill-holding-faults', 'a process SIGKILLed while holding two userfaults (one in a GUP object\'s creation, one in a CPU read) with 32 MiB pinned: it dies, no report, every pin back, the memory back, the module unloads', { timeout: 240_000 }), async () => {
      const mark = guest.vm.log.mark;
      const r = await call('killHoldingFaults');
      console.log(`[${release}] kill-holding-faults: held ${JSON.stringify(r.held)} threads ${r.threadStates.join('')}, end ${JSON.stringify(r.end)}, pins ${JSON.stringify(r.pins)}, meminfo KiB before/held/after ${JSON.stringify(r.mem)}, holder RssAnon ${r.holderAnonKiB} KiB`);
      expect(r.held).toEqual({ pinnedPages: 8192, faults: [0, PAGE], gupSettled: false, readSettled: false });
      expect(r.end).toEqual({ code: null, signal: 'SIGKILL' });
      expect(r.stderr).toBe('');
      // its 8192 pins (and nothing of the held creation) were taken and all came back
      expect(r.pins.held.acquired - r.pins.before.acquired).toBe(8192);
      expect(r.pins.after.acquired).toBe(r.pins.after.released);
      // memory: the holder's anonymous memory (the 32 MiB it pinned and
      // node's heap) is all gone again; within 4 MiB, as the agent's own
      // heap moves meanwhile
      expect(r.holderAnonKiB).toBeGreaterThan(32 * 1024);
      expect(Math.abs(r.mem.after.anon - r.mem.before.anon)).toBeLessThan(4 * 1024);
      expect(r.healthy).toBe(true);
      expect(await reportsSince(mark)).toEqual([]);
      expect(await unloadAndReload()).toBe('rmmod:0 0');
    });
  });
}
