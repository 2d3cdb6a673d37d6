// mirrordrm's MODE_SVM (the kernel's DRM GPU SVM helpers, drm_gpusvm) against
// our own hand-written HMM mode, on the same scenarios: each case runs the
// scenario in both modes, asserts each mode's outcome (bytes the device read,
// exact records, counters) and the difference between them, and prints it.
// drm_gpusvm exists from 6.15 (CONFIG_DRM_GPUSVM): Debian's 7.2 has it as a
// module, 6.1 and 6.12 do not, where the kernel refuses the mode (EOPNOTSUPP)
// and the comparison cases skip with that reason.
import { caseId, caseOf } from './cases.js';
import { beforeAll, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { guestUnavailableReason, kernelInfo, type KernelSeries } from '../../src/vm/index.js';
import { repoRoot } from '../../src/paths.js';
import { ensureGuestBuild, kernels, sharedVm } from './helpers.js';
import { mirrordrmScenarios } from '../../src/guest/index.js';
import type { GuestArgs, GuestFunctions } from '../../src/vm/guest-module.js';

type Scenarios = typeof import('../../src/guest/mirrordrm/index.js');
const PAGE = 4096;
const CHUNK = 64 * 1024;
const OBJ_PAGES = CHUNK / PAGE;
const ULONG_MAX = 0xffff_ffff_ffff_ffffn;

function unavailable(series: KernelSeries): string | null {
  const r = guestUnavailableReason(series);
  if (r) return r;
  if (!fs.existsSync(path.join(repoRoot, 'dist', mirrordrmScenarios.path))) return `dist/${mirrordrmScenarios.path} missing: run npm run build:ts`;
  return null;
}

/** Why the kernel has no drm_gpusvm (from its own module lists), or null when it has. */
function noGpusvm(series: KernelSeries): string | null {
  const k = kernelInfo(series);
  const dir = path.join(k.modulesRoot, 'lib/modules', k.release);
  const has = (f: string) => fs.existsSync(path.join(dir, f)) && /\/drm_gpusvm_helper\.ko/.test(fs.readFileSync(path.join(dir, f), 'utf8'));
  if (has('modules.dep') || has('modules.builtin')) return null;
  return `kernel ${k.release} has no drm_gpusvm (CONFIG_DRM_GPUSVM, 6.15 and later): mirrordrm refuses MODE_SVM with EOPNOTSUPP`;
}

for (const series of kernels()) {
  const reason = unavailable(series);
  if (reason) console.warn(`mirrordrm svm guest tests on ${series} skipped: ${reason}`);
  const noSvm = reason ? null : noGpusvm(series);
  if (noSvm) console.warn(`mirrordrm svm-vs-hmm cases on ${series} skipped: ${noSvm}`);

  describe.skipIf(reason !== null)(`mirrordrm svm on ${series}`, () => {
    beforeAll(() => ensureGuestBuild([series]), 300_000);
    const guest = sharedVm(() => ({ kernel: series, modules: ['mirrordrm'] }));
    let release = '';
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    const call = <K extends GuestFunctions<Scenarios>>(name: K, ...args: GuestArgs<Scenarios, K>): Promise<any> => guest.vm.call(mirrordrmScenarios, name, ...args);
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    const both = async <K extends GuestFunctions<Scenarios>>(name: K, ...rest: unknown[]): Promise<{ hmm: any; svm: any }> => ({
      hmm: await (call as (n: K, ...a: unknown[]) => Promise<unknown>)(name, 'hmm', ...rest),
      svm: await (call as (n: K, ...a: unknown[]) => Promise<unknown>)(name, 'svm', ...rest),
    });

    beforeAll(async () => {
      release = await call('kernelRelease');
      await call('setNumaBalancing', 0);
    }, 60_000);

    it(...caseOf('svm-support', noSvm ? 'svm: the kernel has no drm_gpusvm, USERPTR refuses MODE_SVM with EOPNOTSUPP' : 'svm: the kernel has drm_gpusvm; drm_gpusvm_helper was loaded before mirrordrm (from its module dependencies) and is held by it; USERPTR takes MODE_SVM'), async () => {
      const r = await call('svmSupported', 'svm');
      console.log(`[${release}] MODE_SVM registration: ${JSON.stringify(r)}`);
      if (noSvm) {
        expect(r.registration).toMatchObject({ ok: false, code: 'EOPNOTSUPP' });
        expect(r.helperRefcnt).toBe(null);
      } else {
        expect(r.registration).toEqual({ ok: true, value: true });
        expect(r.helperRefcnt).toBeGreaterThanOrEqual(1); // mirrordrm uses drm_gpusvm_helper
      }
    });

    it(...caseOf('svm-refusals', `svm: USERPTR refuses MODE_SVM with GUP_REPIN and mode 0x6 (EINVAL on every kernel); a READ_ONLY POPULATE svm object is ${noSvm ? 'refused with EOPNOTSUPP' : 'created'}; MIGRATE of an svm object is refused (EINVAL)`), async () => {
      const r = await call('svmRefusals');
      console.log(`[${release}] svm refusals: ${JSON.stringify(r)}`);
      expect(r.facadeRepin).toMatchObject({ ok: false, code: 'ERR_INVALID_ARG_VALUE' });
      expect(r.svmRepin).toMatchObject({ ok: false, code: 'EINVAL' });
      expect(r.mode6).toMatchObject({ ok: false, code: 'EINVAL' });
      if (noSvm) expect(r.svmReadOnlyPopulate).toMatchObject({ ok: false, code: 'EOPNOTSUPP' });
      else expect(r.svmReadOnlyPopulate.ok).toBe(true);
      // no svm object to migrate where USERPTR refuses MODE_SVM; where it exists, MIGRATE refuses it
      if (noSvm) expect(r.svmMigrate).toMatchObject({ ok: false, code: 'EOPNOTSUPP' });
      else expect(r.svmMigrate).toMatchObject({ ok: false, code: 'EINVAL' });
    });

    describe.skipIf(noSvm !== null)('svm against hmm', () => {
      it(...caseOf('svm-read-write', 'device read and write: the same bytes; hmm maps the pages touched, svm the whole 64 KiB range at the first fault'), async () => {
        const r = await both('svmReadWrite');
        for (const m of ['hmm', 'svm'] as const) {
          expect(r[m].length).toBe(3 * PAGE);
          expect(r[m].mismatches).toBe(0);
          expect(r[m].cpu).toEqual(r[m].expect);
          // every page the device maps is the page the CPU maps (svm: translated back from its DMA address)
          expect(r[m].afterRead.same).toBe(r[m].afterRead.valid);
          expect(r[m].afterWrite.same).toBe(r[m].afterWrite.valid);
        }
        expect(r.hmm.afterRead).toMatchObject({ valid: 4, populates: 1 }); // pages 1-4
        expect(r.hmm.writePopulates).toBe(1); // page 5 was not mapped
        expect(r.hmm.afterWrite).toMatchObject({ valid: 5, populates: 2 });
        expect(r.svm.afterRead).toMatchObject({ valid: OBJ_PAGES, populates: 1 }); // one 64 KiB range
        expect(r.svm.writePopulates).toBe(0);
        expect(r.svm.afterWrite).toMatchObject({ valid: OBJ_PAGES, populates: 1 });
        console.log(`[${release}] read-write: pages mapped after read hmm ${r.hmm.afterRead.valid}, svm ${r.svm.afterRead.valid}; populates hmm ${r.hmm.afterWrite.populates}, svm ${r.svm.afterWrite.populates}`);
      });

      it(...caseOf('svm-thp', 'a PMD-mapped 2 MiB THP: both read and write the right bytes at pages 0, 300 and 511; svm maps it in one 2 MiB range (one DMA mapping of order 9), hmm only the 3 pages touched'), async () => {
        const r = await both('svmThp');
        for (const m of ['hmm', 'svm'] as const) {
          expect(r[m].cpuOrder).toBe(9);
          for (const x of r[m].read) expect(x.device, `${m} offset ${x.offset}`).toBe(x.want);
          expect(r[m].cpu).toBe(0xee);
          expect(r[m].same).toBe(r[m].valid);
        }
        expect([r.hmm.valid, r.hmm.populates]).toEqual([3, 3]);
        expect([r.svm.valid, r.svm.populates]).toEqual([512, 1]);
        console.log(`[${release}] THP 2 MiB: hmm mapped ${r.hmm.valid} pages in ${r.hmm.populates} populates, svm ${r.svm.valid} in ${r.svm.populates}`);
      });

      it(...caseOf('svm-munmap-partial', 'munmap of page 1 of a mapped 64 KiB object: one UNMAP of that page in both; hmm drops 1 page, svm the whole range (16); then page 0 and 2 read, page 1 EFAULT in both, svm remaps them as 4 KiB ranges'), async () => {
        const r = await both('svmMunmapPartial');
        for (const m of ['hmm', 'svm'] as const) {
          expect(r[m].before.valid).toBe(OBJ_PAGES);
          expect(r[m].records).toHaveLength(1);
          expect(r[m].records[0].slice(0, 3)).toEqual(['UNMAP', PAGE, 2 * PAGE]);
          expect(r[m].page0).toEqual({ ok: true, value: [1] });
          expect(r[m].page1).toMatchObject({ ok: false, code: 'EFAULT' });
          expect(r[m].page2).toEqual({ ok: true, value: [1] });
        }
        expect(r.hmm.records[0][3]).toBe(1);
        expect(r.svm.records[0][3]).toBe(OBJ_PAGES);
        expect(r.hmm.afterUnmap.valid).toBe(OBJ_PAGES - 1);
        expect(r.svm.afterUnmap.valid).toBe(0);
        // hmm kept its other 15 pages; svm collected the unmapped range and faulted two 4 KiB ranges
        expect(r.hmm.afterReads.valid).toBe(OBJ_PAGES - 1);
        expect(r.hmm.stats.populates).toBe(1);
        expect(r.svm.afterReads.valid).toBe(2);
        expect(r.svm.afterReads.same).toBe(2);
        expect(r.svm.stats.populates).toBe(3);
        console.log(`[${release}] munmap page 1: dropped hmm ${r.hmm.records[0][3]}, svm ${r.svm.records[0][3]}; device view after reads of pages 0-2: hmm ${r.hmm.afterReads.pages}\n  svm ${r.svm.afterReads.pages}`);
      });

      for (const readOnly of [false, true]) {
        const variant = readOnly ? 'read-only' : 'writable';
        it(...caseOf(caseId('svm-mprotect-read', variant), `mprotect(PROT_READ) of the mapping, ${variant} object: one PROTECTION_VMA, 16 pages dropped in both; then ${readOnly ? 'both read' : 'EPERM in both (svm: drm_gpusvm refuses a write mapping of a read-only VMA)'}`), async () => {
          const r = await both('svmMprotectReadOnly', readOnly);
          for (const m of ['hmm', 'svm'] as const) {
            expect(r[m].records).toHaveLength(1);
            expect(r[m].records[0].slice(0, 4)).toEqual(['PROTECTION_VMA', r[m].regionRel, r[m].regionRel + 2 * CHUNK, OBJ_PAGES]);
            if (readOnly) expect(r[m].after).toEqual({ ok: true, value: [2] });
            else expect(r[m].after).toMatchObject({ ok: false, code: 'EPERM' });
          }
          if (readOnly) {
            expect(r.hmm.view.pages.split(' ')[0]).toBe('V---=');
            expect(r.hmm.view.valid).toBe(1);
            expect(r.svm.view.valid).toBe(OBJ_PAGES);
            expect(r.svm.view.pages.split(' ').every((p: string) => p === 'V---=')).toBe(true);
          }
          console.log(`[${release}] mprotect ${variant}: after hmm ${JSON.stringify(r.hmm.after)} svm ${JSON.stringify(r.svm.after)}; mapped after: hmm ${r.hmm.view.valid}, svm ${r.svm.view.valid}`);
        });
      }

      it(...caseOf('svm-dontneed-write', 'MADV_DONTNEED of pages 0-1, then a CPU write: one CLEAR; hmm drops 2 pages, svm 16; both devices read the new byte (0x22) and the old page 5 (0x11)'), async () => {
        const r = await both('svmDontneedWrite');
        for (const m of ['hmm', 'svm'] as const) {
          expect(r[m].records.map((x: unknown[]) => x.slice(0, 3))).toEqual([['CLEAR', 0, 2 * PAGE]]);
          expect([r[m].cpu0, r[m].device0, r[m].device5]).toEqual([0x22, 0x22, 0x11]);
          expect(r[m].populatesAfter).toBe(1);
          expect(r[m].view.same).toBe(r[m].view.valid);
        }
        expect(r.hmm.records[0][3]).toBe(2);
        expect(r.svm.records[0][3]).toBe(OBJ_PAGES);
        expect([r.hmm.afterAdvice.valid, r.svm.afterAdvice.valid]).toEqual([OBJ_PAGES - 2, 0]);
        // hmm refaults page 0 only (page 1 stays unmapped); svm refaults the range, page 1 too
        expect([r.hmm.view.valid, r.svm.view.valid]).toEqual([OBJ_PAGES - 1, OBJ_PAGES]);
        console.log(`[${release}] dontneed+write: dropped hmm ${r.hmm.records[0][3]}, svm ${r.svm.records[0][3]}; device reads 0x${r.svm.device0.toString(16)} in both`);
      });

      it(...caseOf('svm-fork-cow', 'fork, parent writes byte 0, device reads it while the child waits: both read 0x32; the fork drops all 16 pages in both; svm\'s write-enabled range fault breaks COW on the 15 other pages (15 CLEARs), hmm on none'), async () => {
        const r = await both('svmForkCow');
        for (const m of ['hmm', 'svm'] as const) {
          expect([r[m].childExit, r[m].childSignal]).toEqual([0, null]);
          expect([r[m].cpu, r[m].device]).toEqual([0x32, 0x32]);
          expect(r[m].child).toEqual([0x33, 0x31]);
          expect(r[m].atFork).toHaveLength(1);
          expect(r[m].atFork[0][0]).toBe('PROTECTION_PAGE');
          expect(r[m].atFork[0][3]).toBe(OBJ_PAGES);
          expect(r[m].atParentWrite.map((x: unknown[]) => x.slice(0, 4))).toEqual([['CLEAR', 0, PAGE, 0]]);
          expect(r[m].afterChild).toEqual([]);
          expect(r[m].view.same).toBe(r[m].view.valid);
        }
        expect(r.hmm.atDeviceRead).toEqual([]);
        expect(r.hmm.view.valid).toBe(1);
        expect(r.svm.atDeviceRead.map((x: unknown[]) => x.slice(0, 4))).toEqual(Array.from({ length: OBJ_PAGES - 1 }, (_, i) => ['CLEAR', (i + 1) * PAGE, (i + 2) * PAGE, 0]));
        expect(r.svm.view.valid).toBe(OBJ_PAGES);
        console.log(`[${release}] fork+COW: records at the device read: hmm ${r.hmm.atDeviceRead.length}, svm ${r.svm.atDeviceRead.length} (COW breaks of pages the device did not touch)`);
      });

      it(...caseOf('svm-exit-close', 'a child exits with a populated object on the shared file: one RELEASE over [0, ULONG_MAX) dropping 16 pages in both, then EFAULT; closing a populated object logs nothing and gives its pages back'), async () => {
        const r = await both('svmExitClose');
        for (const m of ['hmm', 'svm'] as const) {
          expect(r[m].childExit).toBe(0);
          expect(r[m].lost).toBe(0n);
          const rel = r[m].records.filter((x: { event: string }) => x.event === 'RELEASE');
          expect(rel).toHaveLength(1);
          expect(rel[0]).toMatchObject({ start: 0n, end: ULONG_MAX, blockable: true, child: true, pagesDropped: OBJ_PAGES });
          expect(r[m].device).toMatchObject({ ok: false, code: 'EFAULT' });
          expect(r[m].childObj).toEqual({ populates: 1, pagesDropped: OBJ_PAGES, pagesValid: 0, release: 1 });
          expect(r[m].open).toEqual({ objects: 1, pagesValid: OBJ_PAGES });
          expect(r[m].closed).toEqual({ objects: 0, pagesValid: 0 });
          expect(r[m].closeRecords).toBe(0);
          expect(r[m].parentBytes).toEqual([0x11]);
        }
        // the same records in both modes
        expect(r.svm.records.map((x: { event: string }) => x.event)).toEqual(r.hmm.records.map((x: { event: string }) => x.event));
        console.log(`[${release}] exit: records hmm ${JSON.stringify(r.hmm.records.map((x: { event: string; pagesDropped: number }) => [x.event, x.pagesDropped]))}, svm ${JSON.stringify(r.svm.records.map((x: { event: string; pagesDropped: number }) => [x.event, x.pagesDropped]))}`);
      });
    });
  });
}
