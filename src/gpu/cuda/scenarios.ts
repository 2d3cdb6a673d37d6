// What a real NVIDIA GPU reads after the process changes the memory behind
// it, for a pinned registration (cuMemHostRegister) and an HMM mirror
// (pageable memory, nvidia-uvm). Each scenario fills pages with tagged
// words (tag << 56 | page << 24 | word) so that the bytes the GPU read say
// which generation of the memory it saw: the old pages, the new ones, or the
// zero page.
//
//   misleading-pin   write A, register, MADV_DONTNEED, the CPU writes B.
//                    Pinned: the GPU still reads A (the driver holds the old
//                    pages and has no notifier); the CPU reads B. HMM: B.
//   remap            write A, register, munmap, mmap anew at the same address,
//                    write C. Pinned: A (the registration outlives the VMA);
//                    HMM: C.
//   fork-cow         write A, register, fork; the child writes X and exits;
//                    the parent writes Y. Both: Y. At fork the kernel copies
//                    DMA-pinned anonymous pages for the child
//                    (page_needs_cow_for_dma), so the parent keeps the pinned
//                    page; under HMM the parent's write invalidates the mirror.
//   mprotect         write A, register, mprotect(PROT_READ): the GPU reads A;
//                    then the GPU writes. Pinned: the write lands (the pin
//                    took write access, the GPU's mapping ignores the CPU's
//                    protection) and the CPU reads it; HMM: the GPU write
//                    faults (the CPU page tables say read-only).
//   thp-vs-4k        the same data in THP-backed and 4 KiB memory: the GPU
//                    reads it from both (gpu: the THP read; facts: each
//                    one's classification and kernel time, and whether the
//                    THP range was PMD-mapped: smaps AnonHugePages and
//                    PAGEMAP_SCAN, which need no root). Both kinds: A.
//   hugetlb          the GPU reads hugetlb 2 MiB memory (pool pages reserved
//                    for the run and given back; skipped with the reason
//                    when the pool cannot be grown). Both kinds: A.
//   userfaultfd      memory registered MISSING, served by the native uffd
//                    server with a known pattern. Pinned: the registration
//                    either faults every page through userfaultfd, or (as
//                    NVIDIA's driver does: pin_user_pages() under mmap_lock,
//                    which cannot wait for the handler) is refused with no
//                    fault served; then the CPU faults the pages in through
//                    the server and the registration is retried. Either way
//                    the GPU reads the pattern. HMM: the GPU's fault reaches
//                    nvidia-uvm, whose migrate_vma path backs off on a
//                    userfaultfd-MISSING VMA (migrate_vma_insert_page) and
//                    whose hmm_range_fault faults without
//                    FAULT_FLAG_ALLOW_RETRY, so handle_userfault answers
//                    SIGBUS: the GPU access fails (a CUDA_ERROR_*) and no
//                    fault reaches the server. The uffd is opened without
//                    UFFD_USER_MODE_ONLY (root or vm.unprivileged_userfaultfd
//                    = 1; else the scenario is skipped), so a refusal is the
//                    kernel's missing ALLOW_RETRY, not the user-mode-only
//                    filter.
//
// A GPU fault leaves the CUDA context unusable for the rest of the process,
// so each scenario runs in a child process of its own (scenario-child.ts):
// runScenario() starts it and reads its outcome, one JSON line.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { native } from '../../addon.js';
import { Mapping, reserveHugePages, runInChild } from '../../memory/index.js';
import { pageSummary } from '../../pagestate/index.js';
import { repoRoot } from '../../paths.js';
import { Userfaultfd } from '../../userfaultfd/index.js';
import { CudaDevice, cudaKindUnsupported, type CudaBuffer } from './device.js';

export type ScenarioKind = 'cuda-pinned' | 'cuda-hmm';
export const SCENARIO_KINDS: readonly ScenarioKind[] = ['cuda-pinned', 'cuda-hmm'];

export const SCENARIOS = [
  { id: 'misleading-pin', title: 'register, MADV_DONTNEED, CPU write, GPU read' },
  { id: 'remap', title: 'munmap and mmap again at the same address, CPU write, GPU read' },
  { id: 'fork-cow', title: 'fork; the child writes, the parent writes, GPU read' },
  { id: 'mprotect', title: 'mprotect(PROT_READ): GPU read, then GPU write' },
  { id: 'thp-vs-4k', title: 'GPU read of THP-backed and 4 KiB host pages' },
  { id: 'hugetlb', title: 'GPU read of hugetlb 2 MiB pages' },
  { id: 'userfaultfd', title: 'GPU access to userfaultfd-registered (MISSING) memory' },
] as const;
export type ScenarioId = (typeof SCENARIOS)[number]['id'];

/** Tags of the memory's generations. */
export const TAG = { A: 0xa1, B: 0xb2, C: 0xc3, X: 0xd4, Y: 0xe5 } as const;
export type TagName = keyof typeof TAG;

const PAGE = 4096;
const WORDS = PAGE / 8;

/** Fills `view` with the tagged words of generation `tag`: tag << 56 | page << 24 | word. */
export function fillTagged(view: Uint8Array, tag: TagName): void {
  const w = new BigUint64Array(view.buffer, view.byteOffset, view.byteLength / 8);
  const t = BigInt(TAG[tag]) << 56n;
  for (let p = 0; p < w.length / WORDS; p++) {
    const base = t | (BigInt(p) << 24n);
    for (let i = 0; i < WORDS; i++) w[p * WORDS + i] = base | BigInt(i);
  }
}

/** Per 4 KiB page: which generation it holds ('zero', a tag, or 'other'). */
export interface Classified {
  /** The one thing every page holds, or 'mixed'. */
  all: TagName | 'zero' | 'other' | 'mixed';
  pages: Record<string, number>;
}

export function classify(bytes: Uint8Array): Classified {
  const w = new BigUint64Array(bytes.buffer, bytes.byteOffset, Math.floor(bytes.byteLength / 8));
  const pages: Record<string, number> = {};
  const byTag = new Map<number, TagName>(Object.entries(TAG).map(([k, v]) => [v, k as TagName]));
  for (let p = 0; p < w.length / WORDS; p++) {
    let kind: string;
    if (w.subarray(p * WORDS, (p + 1) * WORDS).every((v) => v === 0n)) kind = 'zero';
    else {
      const tag = byTag.get(Number(w[p * WORDS] >> 56n));
      const base = tag ? (BigInt(TAG[tag]) << 56n) | (BigInt(p) << 24n) : -1n;
      let same = tag !== undefined;
      for (let i = 0; same && i < WORDS; i++) same = w[p * WORDS + i] === (base | BigInt(i));
      kind = same ? tag! : 'other';
    }
    pages[kind] = (pages[kind] ?? 0) + 1;
  }
  const kinds = Object.keys(pages);
  return { all: kinds.length === 1 ? (kinds[0] as Classified['all']) : 'mixed', pages };
}

/** Whether every word i of `bytes` is pattern + i (what CudaBuffer.fill writes). */
export function isFilled(bytes: Uint8Array, pattern: bigint): boolean {
  const w = new BigUint64Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 8);
  for (let i = 0; i < w.length; i++) if (w[i] !== BigInt.asUintN(64, pattern + BigInt(i))) return false;
  return true;
}

export interface ScenarioError {
  code: string;
  message: string;
}

/** What one scenario saw. `gpu` and `cpu` are what each read at the step that matters. */
export interface ScenarioOutcome {
  scenario: ScenarioId;
  kind: ScenarioKind;
  /** Why it did not run here, or null. */
  skipped: string | null;
  /** The GPU's read before the change: every scenario checks it saw what the CPU wrote. */
  before?: Classified;
  gpu?: Classified;
  cpu?: Classified;
  /** A failure of the step the scenario provokes (the GPU access, the unregister), or of the scenario. */
  error: ScenarioError | null;
  /** Scenario-specific facts (fault counts, kernel times, what the child read, ...). */
  facts: Record<string, string | number | boolean | null>;
}

function errorOf(e: unknown): ScenarioError {
  const x = e as { code?: string; message?: string };
  return { code: x?.code ?? 'ERR_UNKNOWN', message: x?.message ?? String(e) };
}

function attach(dev: CudaDevice, kind: ScenarioKind, m: { address: bigint; length: number }): CudaBuffer {
  return kind === 'cuda-pinned' ? dev.pin(m) : dev.mirror(m);
}

const PATTERN = 0x5eed_0000_0000_0000n;

/** Runs one scenario in this process (scenario-child.ts calls it); `dev` is open. */
export async function runScenarioHere(id: ScenarioId, kind: ScenarioKind, dev: CudaDevice): Promise<ScenarioOutcome> {
  const out: ScenarioOutcome = { scenario: id, kind, skipped: cudaKindUnsupported(kind, dev.info), error: null, facts: {} };
  if (out.skipped) return out;
  const len = 16 * PAGE;
  switch (id) {
    case 'misleading-pin': {
      const m = Mapping.anonymous(len);
      fillTagged(m.view, 'A');
      const buf = attach(dev, kind, m);
      out.before = classify(buf.readSync());
      m.advise('DONTNEED');
      fillTagged(m.view, 'B');
      try {
        out.gpu = classify(buf.readSync());
      } catch (e) {
        out.error = errorOf(e);
      }
      out.cpu = classify(m.view);
      buf.close();
      m.unmap();
      break;
    }
    case 'remap': {
      const m = Mapping.anonymous(len);
      fillTagged(m.view, 'A');
      const buf = attach(dev, kind, m);
      out.before = classify(buf.readSync());
      const address = m.address;
      m.unmap();
      const C = native.mmConstants;
      const again = native.mmap(address, len, C.PROT_READ | C.PROT_WRITE, C.MAP_PRIVATE | C.MAP_ANONYMOUS | C.MAP_FIXED_NOREPLACE, -1, 0);
      out.facts.sameAddress = again === address;
      const n = Mapping.adopt(again, len);
      fillTagged(n.view, 'C');
      try {
        out.gpu = classify(buf.readSync());
      } catch (e) {
        out.error = errorOf(e);
      }
      out.cpu = classify(n.view);
      try {
        buf.close();
        out.facts.unregister = 'ok';
      } catch (e) {
        out.facts.unregister = errorOf(e).code;
      }
      n.unmap();
      break;
    }
    case 'fork-cow': {
      const m = Mapping.anonymous(len);
      fillTagged(m.view, 'A');
      const buf = attach(dev, kind, m);
      out.before = classify(buf.readSync());
      const child = await runInChild([
        { op: 'write', mapping: m, offset: 0, length: len, value: TAG.X },
        { op: 'read', mapping: m, offset: 0, length: 8 },
      ]);
      const childBytes = child.results[1]?.bytes;
      out.facts.childExit = child.exitCode;
      out.facts.childRead = childBytes ? Buffer.from(childBytes).toString('hex') : null;
      fillTagged(m.view, 'Y');
      try {
        out.gpu = classify(buf.readSync());
      } catch (e) {
        out.error = errorOf(e);
      }
      out.cpu = classify(m.view);
      buf.close();
      m.unmap();
      break;
    }
    case 'mprotect': {
      const m = Mapping.anonymous(len);
      fillTagged(m.view, 'A');
      const buf = attach(dev, kind, m);
      out.before = classify(buf.readSync());
      m.protect('r');
      try {
        out.gpu = classify(buf.readSync());
      } catch (e) {
        out.error = errorOf(e);
      }
      // The write only after a read that worked: a failed read already broke the context.
      if (!out.error) {
        try {
          buf.fill(PATTERN);
          out.facts.gpuWrite = 'ok';
        } catch (e) {
          out.facts.gpuWrite = 'error';
          out.error = errorOf(e);
        }
      }
      out.cpu = classify(m.view);
      out.facts.cpuSeesGpuWrite = isFilled(m.view, PATTERN);
      buf.close();
      m.unmap();
      break;
    }
    case 'thp-vs-4k': {
      const size = 8 << 20;
      for (const thp of [true, false]) {
        const m = Mapping.anonymous(size, { thp });
        fillTagged(m.view, 'A');
        const s = pageSummary(m);
        const buf = attach(dev, kind, m);
        const label = thp ? 'thp' : '4k';
        try {
          buf.readTimed(); // the first read may fault the range in (HMM); the second is timed
          const r = buf.readTimed();
          const c = classify(r.data);
          if (thp) out.gpu = c;
          out.facts[`${label}GpuRead`] = c.all;
          out.facts[`${label}GpuMs`] = r.gpuMs;
        } catch (e) {
          out.error ??= errorOf(e);
        }
        // smaps and PAGEMAP_SCAN need no root (kpageflags, s.thp, does)
        out.facts[`${label}AnonHugeKb`] = s.smaps.anonHugePagesKb;
        out.facts[`${label}PmdMappedBytes`] = s.pmdMappedBytes ?? null;
        if (thp) {
          out.facts.thpPmdMapped = s.smaps.anonHugePagesKb * 1024 === size;
          if (!out.facts.thpPmdMapped) out.facts.note = `the THP range was not all PMD-mapped (AnonHugePages ${s.smaps.anonHugePagesKb} kB of ${size >> 10}): THP off or no free 2 MiB pages`;
        }
        buf.close();
        m.unmap();
      }
      break;
    }
    case 'hugetlb': {
      let res;
      try {
        res = reserveHugePages('2M', 2);
      } catch (e) {
        out.skipped = `no hugetlb 2 MiB pages: ${errorOf(e).message}`;
        return out;
      }
      let m: Mapping | undefined;
      try {
        m = Mapping.hugetlb(4 << 20, '2M');
        fillTagged(m.view, 'A');
        // smaps' Private_Hugetlb needs no root (kpageflags' HUGE does)
        out.facts.hugetlbKb = pageSummary(m).smaps.hugetlbKb;
        const buf = attach(dev, kind, m);
        try {
          out.gpu = classify(buf.readSync());
        } catch (e) {
          out.error = errorOf(e);
        }
        buf.close();
      } finally {
        // the pool shrinks back only once no mapping holds its pages
        m?.unmap();
        res.release();
      }
      break;
    }
    case 'userfaultfd': {
      // UFFD_USER_MODE_ONLY would refuse every fault the kernel takes on the
      // GPU's behalf (GUP, hmm_range_fault) whatever else happens: ask for a
      // uffd without it, or say why not.
      let u: Userfaultfd;
      try {
        u = Userfaultfd.open({ userModeOnly: false });
      } catch (e) {
        out.skipped = `no userfaultfd that takes kernel faults (needs root or vm.unprivileged_userfaultfd=1): ${errorOf(e).message}`;
        return out;
      }
      const m = Mapping.anonymous(len);
      u.register(m, 'missing');
      const pat = new Uint8Array(64).map((_, i) => (i * 37 + 11) & 0xff);
      const server = u.serve({ pattern: pat });
      let buf: CudaBuffer | undefined;
      try {
        // Pinned: the driver pins here. GUP can wait for userfaultfd only
        // where it may drop mmap_lock (FAULT_FLAG_ALLOW_RETRY); a caller of
        // pin_user_pages() under mmap_lock gets SIGBUS -> -EFAULT instead,
        // and the handler never hears of the fault.
        try {
          buf = attach(dev, kind, m);
          out.facts.registerMissing = 'ok';
        } catch (e) {
          out.facts.registerMissing = errorOf(e).code;
        }
        out.facts.faultsAfterRegister = server.stats().faults;
        if (!buf) {
          // The CPU faults the pages in through the server, then the registration is retried.
          let sum = 0;
          for (let i = 0; i < len; i += PAGE) sum += m.view[i];
          out.facts.cpuTouchSum = sum;
          out.facts.faultsAfterCpuTouch = server.stats().faults;
          buf = attach(dev, kind, m);
        }
        const bytes = buf.readSync();
        let same = true;
        for (let i = 0; same && i < bytes.length; i++) same = bytes[i] === pat[i % 64];
        out.facts.gpuReadPattern = same;
      } catch (e) {
        out.error = errorOf(e);
      }
      out.facts.faults = server.stop().faults;
      out.facts.pages = len / PAGE;
      buf?.close();
      u.close();
      m.unmap();
      break;
    }
  }
  return out;
}

/**
 * Runs one scenario in a child process (dist/gpu/cuda/scenario-child.js:
 * `npm run build:ts` first) and returns its outcome. The child is killed
 * after `timeoutMs` (error ERR_SCENARIO_TIMEOUT: a GPU or a userfaultfd that
 * never answers must not hang the caller); a child that dies without its
 * JSON line gives ERR_SCENARIO_CHILD with its exit status and stderr.
 */
export function runScenario(id: ScenarioId, kind: ScenarioKind, opts: { timeoutMs?: number } = {}): Promise<ScenarioOutcome> {
  const script = path.join(repoRoot, 'dist', 'gpu', 'cuda', 'scenario-child.js');
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const failed = (code: string, message: string): ScenarioOutcome => ({ scenario: id, kind, skipped: null, error: { code, message }, facts: {} });
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [script, id, kind], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    // 'error' (the spawn failed) may come without 'close'; settle once
    let settled = false;
    const settle = (o: ScenarioOutcome): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(o);
    };
    child.on('error', (e) => settle(failed('ERR_SCENARIO_CHILD', `spawn ${process.execPath}: ${e.message}`)));
    child.on('close', (code, signal) => {
      if (timedOut) return settle(failed('ERR_SCENARIO_TIMEOUT', `timeout: killed after ${timeoutMs} ms; stderr: ${stderr.trim().slice(-2000)}`));
      const line = stdout.trim().split('\n').pop() ?? '';
      try {
        settle(JSON.parse(line) as ScenarioOutcome);
      } catch {
        settle(failed('ERR_SCENARIO_CHILD', `${script}: exit ${code}${signal ? ` (${signal})` : ''} without an outcome: ${stderr.trim().slice(-2000)}`));
      }
    });
  });
}
