// mirrordrm's device memory in QEMU guests: pages of a mirrored buffer moved
// into device-private memory (ZONE_DEVICE, MEMORY_DEVICE_PRIVATE) with
// migrate_vma, and what the CPU, the mm and a second device do to them. Each
// case asserts the bytes, the exact invalidation records and the page state.
// Debian's 6.1 and 6.12 have no CONFIG_DEVICE_PRIVATE: there one case checks
// that mirrordrm says so and refuses MIGRATE, and the rest skip with the reason.
import { caseId, caseOf } from './cases.js';
import { beforeAll, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { guestUnavailableReason, kernelConfig, type KernelSeries } from '../../src/vm/index.js';
import { repoRoot } from '../../src/paths.js';
import { ensureGuestBuild, kernels, sharedVm } from './helpers.js';
import { devmemScenarios } from '../../src/guest/index.js';
import type { GuestArgs, GuestFunctions } from '../../src/vm/guest-module.js';

type Scenarios = typeof import('../../src/guest/devmem.js');
const PAGE = 4096;
const DEVMEM_PAGES = (256 << 20) / PAGE; // devmem_mb's default

function unavailable(series: KernelSeries): string | null {
  const r = guestUnavailableReason(series);
  if (r) return r;
  if (!fs.existsSync(path.join(repoRoot, 'dist', devmemScenarios.path))) return `dist/${devmemScenarios.path} missing: run npm run build:ts`;
  return null;
}

for (const series of kernels()) {
  const reason = unavailable(series);
  if (reason) console.warn(`mirrordrm device memory tests on ${series} skipped: ${reason}`);
  const devicePrivate = reason === null && kernelConfig(series, 'CONFIG_DEVICE_PRIVATE') === 'y';
  const noDevmem = devicePrivate ? null : `${series} is built without CONFIG_DEVICE_PRIVATE: no device-private memory to migrate into`;
  if (reason === null && noDevmem) console.warn(`mirrordrm device memory cases on ${series} skipped: ${noDevmem}`);

  describe.skipIf(reason !== null)(`mirrordrm device memory on ${series}`, () => {
    beforeAll(() => ensureGuestBuild([series]), 300_000);
    const guest = sharedVm(() => ({ kernel: series, modules: ['mirrordrm'] }));
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    const call = <K extends GuestFunctions<Scenarios>>(name: K, ...args: GuestArgs<Scenarios, K>): Promise<any> => guest.vm.call(devmemScenarios, name, ...args);
    const reload = async (params: Record<string, string | number> = {}) => {
      await guest.vm.unloadModule('mirrordrm');
      await guest.vm.loadModule('mirrordrm', params);
    };
    beforeAll(async () => {
      // NUMA balancing would add PROTECTION_VMA records of its own
      await guest.vm.exec('/bin/sh', ['-c', 'echo 0 > /proc/sys/kernel/numa_balancing']);
    }, 60_000);

    it(...caseOf('devmem-caps', `DEVICE_INFO reports device-private memory exactly where the kernel has CONFIG_DEVICE_PRIVATE (${devicePrivate ? 'here: 256 MiB, owner 1' : 'here: none, MIGRATE and EXCLUSIVE answer EOPNOTSUPP'})`), async () => {
      const r = await call('migrateUnsupported');
      console.log(`[${series}] device info: ${JSON.stringify(r.info, (k, v) => (typeof v === 'bigint' ? String(v) : v))}`);
      expect(r.info).toMatchObject({ index: 0, owner: 1 });
      expect(r.info.caps.devicePrivate).toBe(devicePrivate);
      if (devicePrivate) {
        expect(r.info).toMatchObject({ devmemPages: DEVMEM_PAGES, devmemFree: DEVMEM_PAGES, caps: { exclusive: true } });
        expect(r.migrate).toMatchObject({ ok: true, value: { migrated: 1, compound: 0, skipped: 0 } });
      } else {
        expect(r.info).toMatchObject({ devmemPages: 0, caps: { devicePrivate: false, migrateCompound: false, exclusive: false } });
        expect(r.migrate).toEqual({ ok: false, code: 'EOPNOTSUPP', errno: -95 });
        expect(r.exclusive).toEqual({ ok: false, code: 'EOPNOTSUPP', errno: -95 });
      }
    });

    describe.skipIf(noDevmem !== null)('with device-private memory', () => {
      it(...caseOf('devmem-round-trip@4k', '4 pages to the device and back: the own MIGRATE is ignored, the device reads its memory, its write comes back to the CPU'), async () => {
        const r = await call('roundTrip', 4);
        expect(r.toDevice).toEqual({ migrated: 4, compound: 0, skipped: 0 });
        // the object's own migration: logged with our owner, nothing dropped
        expect(r.recordsIn).toEqual([['MIGRATE', 0, 4 * PAGE, 0, 1, true]]);
        // both views show device-private pages of owner 1, mapped, no refault
        expect(r.snapIn).toEqual(['D1/D1', 'D1/D1', 'D1/D1', 'D1/D1']);
        expect(r.readMismatches).toBe(0);
        expect(r.recordsAccess).toEqual([]);
        expect(r.onDevice.devmemFree).toBe(r.before.devmemFree - 4);
        expect(r.stats.populates).toBe(1); // only the creation's: device access needed none
        // back to RAM: the device lets go (MIGRATE with our owner, handled), the CPU has the bytes
        expect(r.toRam).toEqual({ migrated: 4, compound: 0, skipped: 0 });
        expect(r.recordsOut).toEqual([['MIGRATE', 0, 4 * PAGE, 4, 1, false]]);
        expect(r.snapOut).toEqual(['-/V', '-/V', '-/V', '-/V']);
        expect(r.cpuWritten).toBe(0xee);
        expect(r.cpuMismatches).toBe(0);
        expect(r.after.devmemFree).toBe(r.before.devmemFree);
        expect(r.after.folioFrees - r.before.folioFrees).toBe(4);
        expect(r.stats).toMatchObject({ pagesToDevice: 4, pagesToRam: 4, ownMigrations: 1 });
      });

      it(...caseOf('devmem-round-trip@thp', 'a 2 MiB THP moved as one device folio (MIGRATE_VMA_SELECT_COMPOUND) and back as one'), async () => {
        const r = await call('roundTrip', 512, { thp: true, compound: true });
        expect(r.thpBefore).toBe(9);
        expect(r.toDevice).toEqual({ migrated: 512, compound: 512, skipped: 0 });
        expect(r.onDevice.thpAllocs - r.before.thpAllocs).toBe(1);
        expect(r.recordsIn).toEqual([['MIGRATE', 0, 512 * PAGE, 0, 1, true]]);
        expect(new Set(r.snapIn)).toEqual(new Set(['D1/D1']));
        expect(r.readMismatches).toBe(0);
        expect(r.toRam).toEqual({ migrated: 512, compound: 512, skipped: 0 });
        expect(r.recordsOut).toEqual([['MIGRATE', 0, 512 * PAGE, 512, 1, false]]);
        expect(r.cpuWritten).toBe(0xee);
        expect(r.cpuMismatches).toBe(0);
        // one folio_free for the 2 MiB device folio
        expect(r.after.folioFrees - r.before.folioFrees).toBe(1);
        expect(r.after.devmemFree).toBe(r.before.devmemFree);
      });

      it(...caseOf('devmem-round-trip@thp@split', 'a 2 MiB THP moved without COMPOUND: split first (a CLEAR over 2 MiB after the own MIGRATE), 512 4 KiB device pages'), async () => {
        const r = await call('roundTrip', 512, { thp: true });
        expect(r.thpBefore).toBe(9);
        // After the split, a page another CPU holds a transient reference to
        // is skipped (migrate_vma is best effort; seen once: 511 of 512 on
        // 7.2). The scenario then asks once more, as a driver would; the
        // first MIGRATE must still move all but a few, the two all 512.
        if (r.retry) console.log(`[${series}] thp@split: the first MIGRATE moved ${r.toDevice.migrated} of 512 (${r.toDevice.skipped} skipped), the second ${r.retry.migrated}`);
        expect(r.toDevice.compound).toBe(0);
        expect(r.toDevice.migrated + r.toDevice.skipped).toBe(512);
        expect(r.toDevice.skipped).toBeLessThanOrEqual(8);
        expect(r.toDevice.migrated + (r.retry?.migrated ?? 0)).toBe(512);
        // the split inside migrate_vma_setup() is an invalidation of its own: the
        // device view is dropped and refaults (to the device pages) at the next
        // access; a second MIGRATE finds no THP and adds only its own record
        expect(r.recordsIn).toEqual([
          ['MIGRATE', 0, 512 * PAGE, 0, 1, true],
          ['CLEAR', 0, 512 * PAGE, 512, null, false],
          ...(r.retry ? [['MIGRATE', 0, 512 * PAGE, 0, 1, true]] : []),
        ]);
        expect(new Set(r.snapIn)).toEqual(new Set(['-/D1']));
        expect(r.readMismatches).toBe(0);
        expect(r.toRam).toEqual({ migrated: 512, compound: 0, skipped: 0 });
        expect(r.cpuMismatches).toBe(0);
        expect(r.after.folioFrees - r.before.folioFrees).toBe(512);
      });

      for (const access of ['read', 'write'] as const) {
        it(...caseOf(`devmem-cpu-fault@${access}`, `a CPU ${access} of one page on the device: migrate_to_ram() brings that page back (MIGRATE, our owner, handled), the others stay`), async () => {
          const r = await call('cpuFaultBack', access);
          expect(r.cpu).toBe(r.expectedCpu);
          expect(r.records).toEqual([['MIGRATE', 2 * PAGE, 3 * PAGE, 1, 1, false]]);
          expect([r.faults, r.faultPages]).toEqual([1, 1]);
          expect(r.snap).toEqual(['D1/D1', 'D1/D1', '-/V', 'D1/D1']);
          expect(r.deviceMismatches).toBe(0);
          // the device refaults that page from system memory, the rest stay device pages
          expect(r.snapAfterRead).toEqual(['D1/D1', 'D1/D1', 'V/V', 'D1/D1']);
        });
      }

      it(...caseOf('devmem-munmap', 'munmap of 2 of 4 pages on the device: one UNMAP, the device pages freed (folio_free), the device faults on the hole'), async () => {
        const r = await call('changeOnDevice', 'munmap');
        expect(r.records).toEqual([['UNMAP', PAGE, 3 * PAGE, 2, null, false]]);
        expect([r.freed, r.folioFrees]).toEqual([2, 2]);
        expect(r.snap).toEqual(['D1/D1', '-/-', '-/-', 'D1/D1']);
        expect(r.device).toEqual({ ok: false, code: 'EFAULT', errno: -14 });
        expect(r.cpu).toEqual([r.expected[0], null, null, r.expected[3]]);
      });

      it(...caseOf('devmem-mprotect', 'mprotect(PROT_READ) over device pages: PROTECTION_VMA drops the device view, the pages stay on the device and read right'), async () => {
        const r = await call('changeOnDevice', 'mprotect');
        expect(r.records).toEqual([['PROTECTION_VMA', PAGE, 3 * PAGE, 2, null, false]]);
        expect([r.freed, r.folioFrees]).toEqual([0, 0]);
        expect(r.snap).toEqual(['D1/D1', '-/D1', '-/D1', 'D1/D1']);
        expect(r.device).toEqual({ ok: true, value: r.expected });
        expect(r.cpu).toEqual(r.expected);
      });

      it(...caseOf('devmem-dontneed', 'MADV_DONTNEED over device pages: CLEAR, the device pages freed, CPU and device read zeros there'), async () => {
        const r = await call('changeOnDevice', 'dontneed');
        expect(r.records).toEqual([['CLEAR', PAGE, 3 * PAGE, 2, null, false]]);
        expect([r.freed, r.folioFrees]).toEqual([2, 2]);
        expect(r.snap).toEqual(['D1/D1', '-/-', '-/-', 'D1/D1']);
        expect(r.device).toEqual({ ok: true, value: [r.expected[0], 0, 0, r.expected[3]] });
        expect(r.cpu).toEqual([r.expected[0], 0, 0, r.expected[3]]);
      });

      it(...caseOf('devmem-thp-partial-munmap', 'one page unmapped inside a 2 MiB device folio: PMD split (CLEAR over 2 MiB), the folio stays whole until a fault-back splits it (folio_split); bytes intact'), async () => {
        const r = await call('thpPartialMunmap');
        expect(r.cpuOrder).toBe(9);
        expect(r.moved).toEqual({ migrated: 512, compound: 512, skipped: 0 });
        expect(r.thpAllocs).toBe(1);
        expect(r.records).toEqual([['CLEAR', 0, 512 * PAGE, 512, null, false], ['UNMAP', 100 * PAGE, 101 * PAGE, 0, null, false]]);
        // munmap alone: no split, nothing freed (the unmapped page stays in the folio)
        expect(r.munmap).toEqual({ splits: 0, frees: 0, inUse: 512, faults: 0 });
        expect(r.snap).toEqual(['-/D1', '-/-', '-/D1']);
        expect(r.deviceMismatches).toBe(0);
        // a CPU read of a PTE-mapped page of the large device folio: the first
        // fault splits it and retries, the second moves the page; the hole is freed
        expect(r.cpuRead).toBe(r.expectedCpuRead);
        expect(r.cpuReadStep).toEqual({ splits: 1, frees: 2, inUse: 510, faults: 2 });
        expect(r.overHole).toEqual({ ok: false, code: 'EFAULT', errno: -14 });
        expect(r.back).toEqual({ migrated: 510, compound: 0, skipped: 1 });
        expect(r.backStep).toEqual({ splits: 0, frees: 510, inUse: 0, faults: 0 });
        expect(r.cpuMismatches).toBe(0);
      });

      it(...caseOf('devmem-fork', 'fork with pages on the device: COW write-protects (PROTECTION_PAGE), the child faults them back, the parent keeps its bytes and the device reads them'), async () => {
        const r = await call('forkWithDevicePages');
        expect(r.childExit).toBe(0);
        expect(r.childReads).toEqual([r.expectedChildRead, true, [0x77]]);
        expect(r.records).toEqual([['PROTECTION_PAGE', 0, 2 * PAGE, 2, null, false], ['CLEAR', 0, PAGE, 0, null, false], ['CLEAR', PAGE, 2 * PAGE, 0, null, false]]);
        // the child's fault-backs migrate the shared device pages for both processes
        expect(r.faults).toBe(2);
        expect(r.snapParent).toEqual(['-/V', '-/V']);
        expect(r.parentCpu).toEqual(r.expected);
        expect(r.device).toEqual(r.expected);
      });

      it(...caseOf('devmem-numa', 'move_pages() of pages on the device: ENOENT per page, no invalidation, the pages stay on the device'), async () => {
        const r = await call('numaMovePages');
        expect(r.moved).toEqual({ ok: true, value: { result: 0, status: [-2, -2], codes: ['ENOENT', 'ENOENT'] } });
        expect(r.records).toEqual([]);
        expect(r.snap).toEqual(['D1/D1', 'D1/D1']);
        expect(r.device).toEqual(r.expected);
      });

      it(...caseOf('devmem-exit', 'a process exits with pages on the device: the mm teardown frees them and the device memory is whole again', { timeout: 120_000 }), async () => {
        const r = await call('processExit', 8);
        expect(r.child).toEqual({ migrated: 8, free: r.before.devmemFree - 8 });
        expect(r.after.devmemFree).toBe(r.before.devmemFree);
        expect(r.after.folioFrees - r.before.folioFrees).toBe(8);
      });

      it(...caseOf('devmem-exclusive', 'make_device_exclusive() on 2 pages (own EXCLUSIVE records), a CPU write takes page 0 back (CLEAR), the device reads the new byte'), async () => {
        const r = await call('exclusiveAgainstCpuWrite');
        expect(r.made).toBe(2);
        expect(r.recordsExclusive).toEqual([['EXCLUSIVE', 0, PAGE, 0, 1, true], ['EXCLUSIVE', PAGE, 2 * PAGE, 0, 1, true]]);
        // the CPU has no access while the device holds them
        expect(r.snapExclusive).toEqual(['VX/-', 'VX/-']);
        expect(r.recordsCpu).toEqual([['CLEAR', 0, PAGE, 1, null, false]]);
        expect(r.snapAfter).toEqual(['-/V', 'VX/-']);
        expect(r.device).toEqual([0x99]);
      });

      it(...caseOf('devmem-refusals', 'MIGRATE refuses bad ranges (EINVAL), shmem/file/hugetlb (EOPNOTSUPP), a read-only object (EACCES); pinned pages do not move; no byte changes'), async () => {
        const r = await call('migrateRefusals', '/dev/hugepages');
        const einval = { ok: false, code: 'EINVAL', errno: -22 };
        const eopnotsupp = { ok: false, code: 'EOPNOTSUPP', errno: -95 };
        expect(r).toMatchObject({
          unaligned: einval,
          pastEnd: einval,
          zeroLength: einval,
          overflow: einval,
          bothDirections: einval,
          unknownFlag: einval,
          noHandle: { ok: false, code: 'ENOENT', errno: -2 },
          exclusiveFlags: einval,
          bytesIntact: true,
          shmem: { result: eopnotsupp, bytesIntact: true },
          file: { result: eopnotsupp, bytesIntact: true },
          hugetlb: { result: eopnotsupp, bytesIntact: true },
          pinned: { ok: true, value: { migrated: 0, compound: 0, skipped: 2 } },
          readOnly: { ok: false, code: 'EACCES', errno: -13 },
          pinnedBytesIntact: true,
        });
      });

      it(...caseOf('devmem-evict-unload', 'pages left on the device by a process that closed it are moved back to RAM at module unload; the bytes survive'), async () => {
        const left = await call('leaveOnDevice', 8);
        expect(left.moved).toBe(8);
        await guest.vm.unloadModule('mirrordrm');
        const r = await call('readLeft', BigInt(left.addr), left.length);
        expect(r.mismatches).toBe(0);
        await guest.vm.loadModule('mirrordrm');
      });

      describe('two devices, small device memory', () => {
        it(...caseOf('devmem-second-device@other-owner', 'devices=2 owners=1,2: device 1 reading pages on device 0 faults them back to RAM first (device 0 handles a MIGRATE of its owner)'), async () => {
          await reload({ devices: 2, owners: '1,2', devmem_mb: 2 });
          const r = await call('secondDevice');
          expect(r.owners).toEqual([1, 2]);
          expect(r.recordsMigrateA).toEqual([['MIGRATE', 0, 2 * PAGE, 0, 1, true]]);
          // device 1 sees device 0's migration as anyone else's: it drops its view
          expect(r.recordsMigrateB).toEqual([['MIGRATE', 0, 2 * PAGE, 2, 1, false]]);
          expect(r.readMismatches).toBe(0);
          expect(r.faultBacks).toBe(2);
          expect(r.recordsA).toEqual([['MIGRATE', 0, PAGE, 1, 1, false], ['MIGRATE', PAGE, 2 * PAGE, 1, 1, false]]);
          expect(r.recordsB).toEqual([['MIGRATE', 0, PAGE, 0, 1, false], ['MIGRATE', PAGE, 2 * PAGE, 0, 1, false]]);
          expect(r.snapA).toEqual(['-/V', '-/V']);
          expect(r.snapB).toEqual(['V/V', 'V/V']);
        });

        // MIGRATE steps end on 2 MiB boundaries: from a boundary, the step
        // after the first 512 pages runs out; from 10 pages below one, the
        // second step runs out with 6 pages still ahead. Mapped where ASLR
        // chose, a step could run out with pages never reached, which
        // skipped once left uncounted (6 instead of 16).
        for (const [place, pagesBelow] of [['from-boundary', 0], ['straddling', 10]] as const) {
          it(...caseOf(caseId('devmem-exhausted', place), `more pages than the device has (devmem_mb=2), mapped ${pagesBelow ? `${pagesBelow} pages below` : 'from'} a 2 MiB boundary: ENOSPC after 512 pages moved, 16 counted skipped and left in RAM, every byte intact on both sides`), async () => {
            const r = await call('exhaustDeviceMemory', 'hmm', pagesBelow);
            expect(r.devmemPages).toBe(512);
            expect(r.result).toEqual({ ok: false, code: 'ENOSPC', migrated: 512, skipped: 16 });
            expect(r.full.devmemFree).toBe(0);
            expect(r.deviceMismatches).toBe(0);
            expect(r.back).toEqual({ migrated: 512, compound: 0, skipped: 16 });
            expect(r.cpuMismatches).toBe(0);
            expect(r.after.devmemFree).toBe(512);
          });
        }

        it(...caseOf('devmem-second-device@same-owner', 'devices=2 owners=1,1: device 1 maps device 0\'s pages as they are, no fault-back, no record'), async () => {
          await reload({ devices: 2, owners: '1,1' });
          const r = await call('secondDevice');
          expect(r.owners).toEqual([1, 1]);
          expect(r.readMismatches).toBe(0);
          expect(r.faultBacks).toBe(0);
          expect(r.recordsA).toEqual([]);
          expect(r.recordsB).toEqual([]);
          expect(r.snapA).toEqual(['D1/D1', 'D1/D1']);
          expect(r.snapB).toEqual(['D1/D1', 'D1/D1']);
          await reload();
        });
      });
    });
  });
}
