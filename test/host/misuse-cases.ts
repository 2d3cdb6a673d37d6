// Misuse of the public API: every case must end in a clear error (or a result
// that reports what happened), never in the end of the process. Run by
// test/host/misuse.test.ts through test/host/misuse-runner.ts, one child
// process per group; the cases that used to kill or hang the process have a
// child each (`alone: true`).
import fs from 'node:fs';
import * as ml from '../../src/index.js';
import { native } from '../../src/addon.js';

const { Mapping, PAGE_SIZE } = ml;
const PAGE = PAGE_SIZE;

/** The error a case must end with (message: a substring). */
export interface WantError {
  /** absent only for V8's own errors, which have none (then name and message are checked) */
  code?: string;
  name?: string;
  syscall?: string;
  message?: string;
}

export interface MisuseCase {
  name: string;
  group: string;
  /** runs in a child of its own (a case that used to end the process or hang it) */
  alone?: boolean;
  run: () => unknown;
  /** the error it must throw or reject with */
  error?: WantError;
  /** or: a check of what it returned (undefined = fine, else what is wrong); info: extra data for the parent */
  check?: (value: unknown) => string | undefined;
  info?: (value: unknown) => unknown;
}

const cases: MisuseCase[] = [];
function fails(group: string, name: string, run: () => unknown, error: WantError, alone = false): void {
  cases.push({ name, group, run, error, alone });
}
function returns(group: string, name: string, run: () => unknown, check: (v: unknown) => string | undefined, alone = false, info?: (v: unknown) => unknown): void {
  cases.push({ name, group, run, check, alone, info });
}

const ARG = 'ERR_INVALID_ARG_VALUE';
const TYPE = 'ERR_INVALID_ARG_TYPE';
const RANGE = 'ERR_OUT_OF_RANGE';
const STATE = 'ERR_INVALID_STATE';
const any = (v: unknown) => v as never;
const unmapped = () => {
  const m = Mapping.anonymous(PAGE);
  m.unmap();
  return m;
};
/** A range that was mapped a moment ago and is a hole now. */
const holeRange = () => {
  const m = Mapping.anonymous(4 * PAGE);
  const r = { address: m.address, length: m.length };
  m.unmap();
  return r;
};
/** Run fn with a fresh Userfaultfd, closed afterwards (the runner has no `using`). */
function withUffd<T>(fn: (u: ml.Userfaultfd) => T): () => T {
  return () => {
    const u = ml.Userfaultfd.open();
    let async = false;
    try {
      const r = fn(u);
      if (r instanceof Promise) {
        async = true;
        return r.finally(() => u.close()) as T;
      }
      return r;
    } finally {
      if (!async) u.close();
    }
  };
}
const signalOf = (want: string) => (v: unknown) => {
  const s = (v as { signal: { signal: string } | null }).signal;
  return s?.signal === want ? undefined : `expected result.signal ${want}, got ${JSON.stringify(s)}`;
};

// ------------------------------------------------------------------ the known killers, alone

fails('killer', 'Mapping.adopt(0n, 4096): NULL', () => Mapping.adopt(0n, 4096), { code: ARG, message: 'must not be NULL' }, true);
fails('killer', 'Mapping.adopt of a hole', () => Mapping.adopt(holeRange().address, PAGE), { code: 'ENOMEM', syscall: 'mincore' }, true);
fails('killer', 'Mapping.adopt of a kernel address', () => Mapping.adopt(0xffff_8000_0000_0000n, PAGE), { code: RANGE, message: 'kernel addresses are refused' }, true);
fails('killer', 'touchRange(0x1000n, 4096): a hole', () => ml.touchRange(0x1000n, PAGE), { code: 'ENOMEM', syscall: 'mincore', message: 'hole=0x1000' }, true);
fails('killer', 'touchRange of a kernel address', () => ml.touchRange(0xffff_ffff_8000_0000n, PAGE), { code: RANGE }, true);
fails('killer', 'touchRange of a Mapping after unmap()', () => ml.touchRange(unmapped()), { code: STATE, message: 'is unmapped' }, true);
fails('killer', 'touchRange of the range of a Mapping after unmap()', () => ml.touchRange(holeRange()), { code: 'ENOMEM', syscall: 'mincore' }, true);
fails('killer', 'touchRange write on a read-only Mapping', () => ml.touchRange(Mapping.anonymous(PAGE, { prot: 'r' })), { code: ARG, message: 'must be writable throughout' }, true);
fails('killer', 'touchRange read on a PROT_NONE Mapping', () => ml.touchRange(Mapping.anonymous(PAGE, { prot: 'none' }), { access: 'read' }), { code: ARG, message: 'must be readable throughout' }, true);
fails('killer', 'threadRead of a hole', () => ml.threadRead({ address: 0x1000n, length: PAGE }), { code: 'ENOMEM', syscall: 'mincore' }, true);
fails('killer', 'threadWrite of a hole left by unmap()', () => ml.threadWrite(holeRange()), { code: 'ENOMEM', syscall: 'mincore' }, true);
fails('killer', 'forkAccess of a hole', () => ml.forkAccess(holeRange()), { code: 'ENOMEM', syscall: 'mincore' }, true);
returns('killer', 'threadWrite on a read-only Mapping: SIGSEGV in the result', () => ml.threadWrite(Mapping.anonymous(PAGE, { prot: 'r' }), { fill: 1 }), signalOf('SIGSEGV'), true);
returns('killer', 'threadRead on a PROT_NONE Mapping: SIGSEGV in the result', () => ml.threadRead(Mapping.anonymous(2 * PAGE, { prot: 'none' })), (v) => {
  const r = v as { completed: number };
  return signalOf('SIGSEGV')(v) ?? (r.completed === 0 ? undefined : `completed ${r.completed}, expected 0`);
}, true);
returns('killer', 'threadRead past a read-only page into PROT_NONE: stops there', () => {
  const m = Mapping.anonymous(2 * PAGE);
  m.view.fill(9, 0, PAGE);
  m.protect('none', PAGE, PAGE);
  return ml.threadRead(m);
}, (v) => {
  const r = v as { completed: number; bytes: Uint8Array };
  if (r.completed !== 1) return `completed ${r.completed}, expected 1`;
  if (r.bytes[0] !== 9) return `first page read ${r.bytes[0]}, expected 9`;
  return signalOf('SIGSEGV')(v);
}, true);
fails('killer', 'pageSummary of a 2^52-byte range', () => ml.pageSummary({ address: 0x10000n, length: 2 ** 52 }), { code: RANGE, message: 'split the range' }, true);
fails('killer', 'pageState of a 2^46-byte range', () => ml.pageState({ address: 0x10000n, length: 2 ** 46 }), { code: RANGE, message: 'split the range' }, true);
fails('killer', 'pageSummary of an unmapped range', () => ml.pageSummary(holeRange()), { code: 'ENOMEM', syscall: 'mincore', message: 'length=16384' }, true);
fails('killer', 'pageState of an unmapped range', () => ml.pageState(holeRange()), { code: 'ENOMEM', syscall: 'mincore' }, true);
fails('killer', 'adopt() alias: the owner unmaps, the alias refuses', () => {
  const m = Mapping.anonymous(2 * PAGE);
  const alias = Mapping.adopt(m.address, m.length);
  m.unmap();
  if (alias.mapped) throw new Error('the alias still says mapped');
  alias.touch();
}, { code: STATE, message: 'no longer owns its range: mapping' }, true);
fails('killer', 'adopt() alias: the alias unmaps, the owner refuses', () => {
  const m = Mapping.anonymous(2 * PAGE);
  Mapping.adopt(m.address, m.length).unmap();
  if (m.mapped) throw new Error('the owner still says mapped');
  ml.touchRange(m);
}, { code: STATE, message: 'unmapped it' }, true);
fails('killer', 'remap(fixed) onto another Mapping: the replaced one refuses', () => {
  const a = Mapping.anonymous(PAGE);
  const b = Mapping.anonymous(PAGE);
  a.remap(PAGE, { mayMove: true, fixed: b.address });
  if (b.mapped) throw new Error('b still says mapped');
  b.unmap();
}, { code: STATE, message: 'remapped' }, true);
returns('killer', 'remap(fixed) onto another Mapping, then a GC: the moved memory stays mapped', async () => {
  const a = Mapping.anonymous(PAGE);
  let b: ml.Mapping | null = Mapping.anonymous(PAGE);
  const target = b.address;
  a.remap(PAGE, { mayMove: true, fixed: target });
  a.view[0] = 42;
  b = null;
  for (let i = 0; i < 3; i++) {
    (globalThis as { gc?: () => void }).gc?.();
    await new Promise((r) => setTimeout(r, 20));
  }
  return { a, target, byte: a.view[0], mapped: ml.isMapped({ address: target, length: PAGE }) };
}, (v) => {
  const r = v as { a: ml.Mapping; target: bigint; byte: number; mapped: boolean };
  if (!(globalThis as { gc?: unknown }).gc) return 'run with --expose-gc';
  if (r.a.address !== r.target || !r.mapped || r.byte !== 42) return `moved range lost: ${JSON.stringify({ mapped: r.mapped, byte: r.byte })}`;
  return undefined;
}, true);
returns('killer', 'adopt() alias kept, owner dropped and collected: the memory stays mapped', async () => {
  let m: ml.Mapping | null = Mapping.anonymous(PAGE);
  const alias = Mapping.adopt(m.address, PAGE);
  m.view[0] = 7;
  m = null;
  for (let i = 0; i < 3; i++) {
    (globalThis as { gc?: () => void }).gc?.();
    await new Promise((r) => setTimeout(r, 20));
  }
  return { byte: alias.view[0], mapped: ml.isMapped(alias) };
}, (v) => {
  const r = v as { byte: number; mapped: boolean };
  return r.mapped && r.byte === 7 ? undefined : `alias lost its memory: ${JSON.stringify(r)}`;
}, true);
fails('killer', 'Mapping.touch({ value: 300 })', () => Mapping.anonymous(PAGE).touch({ value: 300 }), { code: RANGE, message: 'a byte (0 to 255)' }, true);

// A thread held on a userfault while its Mapping goes away.
async function heldFault(then: (m: ml.Mapping | null, u: ml.Userfaultfd) => ml.Mapping | null | Promise<void>) {
  let m: ml.Mapping | null = Mapping.anonymous(PAGE);
  const u = ml.Userfaultfd.open();
  u.register(m, 'missing');
  const reader = ml.threadRead(m.range());
  await u.nextEvent('pagefault', { timeoutMs: 10_000 });
  m = (await then(m, u)) ?? null;
  return reader;
}
returns('killer', 'held fault: Mapping unmapped, then the uffd closed -> SIGSEGV in the result', () =>
  heldFault((m, u) => {
    m!.unmap();
    u.close();
    return null;
  }), signalOf('SIGSEGV'), true);
returns('killer', 'held fault: Mapping dropped and collected, uffd closed -> the read completes (pinned)', () =>
  heldFault(async (_m, u) => {
    for (let i = 0; i < 3; i++) {
      (globalThis as { gc?: () => void }).gc?.();
      await new Promise((r) => setTimeout(r, 20));
    }
    u.close();
  }), (v) => {
  const r = v as { signal: unknown; completed: number; bytes: Uint8Array };
  if (r.signal !== null) return `signal ${JSON.stringify(r.signal)}`;
  return r.completed === 1 && r.bytes.every((b) => b === 0) ? undefined : `completed ${r.completed}`;
}, true);

// The hangs: the child must exit on its own (the parent checks exit status and the fork child's pid).
returns('hang', 'forkChild([{ op: wait }]) never resumed: the process exits, the child is killed', async () => {
  const h = ml.forkChild([{ op: 'wait' }]);
  await h.waiting();
  return h.pid;
}, (v) => (typeof v === 'number' && v > 0 ? undefined : `pid ${String(v)}`), true, (v) => ({ pid: v }));
returns('hang', 'script ends holding a fault (uffd unref): the process exits', async () => {
  const m = Mapping.anonymous(PAGE);
  const u = ml.Userfaultfd.open();
  u.register(m, 'missing');
  void ml.threadRead(m);
  await u.nextEvent('pagefault', { timeoutMs: 10_000 });
  u.unref();
  return true;
}, (v) => (v === true ? undefined : 'no fault'), true);
returns('hang', 'script ends holding a fault (stopListening): the process exits', async () => {
  const m = Mapping.anonymous(PAGE);
  const u = ml.Userfaultfd.open();
  u.register(m, 'missing');
  void ml.threadWrite(m, { fill: 3 });
  await u.nextEvent('pagefault', { timeoutMs: 10_000 });
  u.stopListening();
  return true;
}, (v) => (v === true ? undefined : 'no fault'), true);
returns('hang', 'a held fault resolved: the access still settles', async () => {
  const m = Mapping.anonymous(PAGE);
  const u = ml.Userfaultfd.open();
  u.register(m, 'missing');
  const reader = ml.threadRead(m);
  const f = await u.nextEvent('pagefault', { timeoutMs: 10_000 });
  u.unref();
  (f as ml.PageFault).copy(new Uint8Array(PAGE).fill(5));
  const r = await reader;
  u.close();
  return r;
}, (v) => ((v as { bytes: Uint8Array }).bytes.every((b) => b === 5) ? undefined : 'bytes differ'), true);

// ------------------------------------------------------------------ Mapping factories

const G = 'mapping';
fails(G, 'anonymous(0)', () => Mapping.anonymous(0), { code: ARG, message: 'must not be zero' });
fails(G, 'anonymous(-4096)', () => Mapping.anonymous(-4096), { code: RANGE });
fails(G, 'anonymous(100): unaligned', () => Mapping.anonymous(100), { code: ARG, message: 'multiple of 4096' });
fails(G, 'anonymous(1.5)', () => Mapping.anonymous(1.5), { code: ARG, message: 'integer' });
fails(G, "anonymous('4096')", () => Mapping.anonymous(any('4096')), { code: TYPE });
fails(G, 'anonymous(NaN)', () => Mapping.anonymous(NaN), { code: ARG });
fails(G, 'anonymous(Infinity)', () => Mapping.anonymous(Infinity), { code: ARG });
fails(G, 'anonymous(2^60): not a safe length', () => Mapping.anonymous(2 ** 60), { code: RANGE });
fails(G, 'anonymous(2^50): the kernel refuses', () => Mapping.anonymous(2 ** 50), { code: 'ENOMEM', syscall: 'mmap' });
fails(G, 'anonymous(-1n)', () => Mapping.anonymous(any(-1n)), { code: RANGE });
fails(G, 'anonymous: unknown option', () => Mapping.anonymous(PAGE, any({ hugetlb: '2M' })), { code: ARG, message: 'not a known option' });
fails(G, 'anonymous: options null', () => Mapping.anonymous(PAGE, any(null)), { code: TYPE });
fails(G, 'anonymous: options an array', () => Mapping.anonymous(PAGE, any([])), { code: TYPE });
fails(G, "anonymous: prot 'rwz'", () => Mapping.anonymous(PAGE, { prot: any('rwz') }), { code: ARG });
fails(G, 'anonymous: prot 99', () => Mapping.anonymous(PAGE, { prot: any(99) }), { code: ARG, message: 'a combination of PROT_READ' });
fails(G, "anonymous: thp 'yes'", () => Mapping.anonymous(PAGE, { thp: any('yes') }), { code: TYPE });
fails(G, "anonymous: populate 'always'", () => Mapping.anonymous(PAGE, { populate: any('always') }), { code: ARG });
fails(G, 'anonymous: populate write on read-only: EINVAL', () => Mapping.anonymous(PAGE, { prot: 'r', populate: 'write' }), { code: 'EINVAL', syscall: 'madvise' });
fails(G, "hugetlb: size '4M'", () => Mapping.hugetlb(4 << 20, any('4M')), { code: ARG });
fails(G, 'hugetlb: length not a multiple of 2M', () => Mapping.hugetlb(PAGE, '2M'), { code: ARG, message: 'multiple of 2097152' });
fails(G, 'memfd: thp and hugetlb', () => Mapping.memfd(2 << 20, { thp: true, hugetlb: '2M' }), { code: ARG, message: 'both thp and hugetlb' });
fails(G, 'memfd: name 5', () => Mapping.memfd(PAGE, { name: any(5) }), { code: TYPE });
fails(G, "file(''): empty path", () => Mapping.file('', PAGE), { code: TYPE });
fails(G, 'file: a missing directory', () => Mapping.file('/nonexistent-dir/x', PAGE), { code: 'ENOENT' });
fails(G, 'file: offset unaligned', () => Mapping.file('/tmp/mirrorlab-misuse-file', PAGE, { offset: 100 }), { code: ARG });
fails(G, 'file: create false on a missing file', () => Mapping.file('/tmp/mirrorlab-misuse-missing', PAGE, { create: false }), { code: 'ENOENT' });
fails(G, 'adopt: unaligned address', () => Mapping.adopt(0x1001n, PAGE), { code: ARG });
fails(G, 'adopt: address + length overflows', () => Mapping.adopt((1n << 64n) - 4096n, 2 * PAGE), { code: RANGE });
fails(G, 'adopt: negative address', () => Mapping.adopt(-4096n, PAGE), { code: RANGE });
fails(G, "adopt: address '0x1000'", () => Mapping.adopt(any('0x1000'), PAGE), { code: TYPE });
fails(G, 'adopt: pageSize 3000', () => Mapping.adopt(Mapping.anonymous(PAGE).address, PAGE, { pageSize: 3000 }), { code: ARG, message: 'power of two' });
fails(G, 'adopt: length not a multiple of pageSize', () => Mapping.adopt(Mapping.anonymous(PAGE).address, PAGE, { pageSize: 2 << 20 }), { code: ARG });
fails(G, "adopt: backing 'vram'", () => Mapping.adopt(Mapping.anonymous(PAGE).address, PAGE, { backing: any('vram') }), { code: ARG });
fails(G, "adopt: shared 'no'", () => Mapping.adopt(Mapping.anonymous(PAGE).address, PAGE, { shared: any('no') }), { code: TYPE });
fails(G, 'adopt: a range running past the end of a Mapping', () => {
  const m = Mapping.anonymous(2 * PAGE);
  m.unmapRange(PAGE);
  return Mapping.adopt(m.address, 2 * PAGE);
}, { code: 'ENOMEM', syscall: 'mincore', message: 'hole=' });

// ------------------------------------------------------------------ Mapping methods

const M = 'mapping-methods';
fails(M, 'addressAt past the end', () => Mapping.anonymous(PAGE).addressAt(PAGE + 1), { code: ARG });
fails(M, 'addressAt(-1)', () => Mapping.anonymous(PAGE).addressAt(-1), { code: RANGE });
fails(M, 'subarray past the end', () => Mapping.anonymous(PAGE).subarray(0, PAGE + 1), { code: ARG });
fails(M, 'range: offset unaligned', () => Mapping.anonymous(2 * PAGE).range(10), { code: ARG });
fails(M, 'range: length past the end', () => Mapping.anonymous(PAGE).range(0, 2 * PAGE), { code: RANGE });
fails(M, 'range: offset at the end', () => Mapping.anonymous(PAGE).range(PAGE), { code: ARG, message: 'must not be zero' });
fails(M, 'touch: value -1', () => Mapping.anonymous(PAGE).touch({ value: -1 }), { code: RANGE });
fails(M, 'touch: value 256', () => Mapping.anonymous(PAGE).touch({ value: 256 }), { code: RANGE, message: 'a byte' });
fails(M, 'touch: stride 0', () => Mapping.anonymous(PAGE).touch({ stride: 0 }), { code: ARG });
fails(M, 'touch: unknown option', () => Mapping.anonymous(PAGE).touch(any({ bytes: 1 })), { code: ARG });
fails(M, "protect('q')", () => Mapping.anonymous(PAGE).protect(any('q')), { code: ARG });
fails(M, 'protect: offset unaligned', () => Mapping.anonymous(PAGE).protect('r', 100), { code: ARG });
fails(M, "advise('NOPE')", () => Mapping.anonymous(PAGE).advise('NOPE'), { code: ARG });
fails(M, 'advise POPULATE_WRITE on read-only: EINVAL', () => Mapping.anonymous(PAGE, { prot: 'r' }).advise('POPULATE_WRITE'), { code: 'EINVAL', syscall: 'madvise' });
fails(M, 'remap(0)', () => Mapping.anonymous(PAGE).remap(0), { code: ARG });
fails(M, 'remap: fixed without mayMove', () => Mapping.anonymous(PAGE).remap(PAGE, { fixed: 0x10000n }), { code: ARG, message: 'needs mayMove' });
fails(M, 'remap: dontUnmap without mayMove', () => Mapping.anonymous(PAGE).remap(PAGE, { dontUnmap: true }), { code: ARG });
fails(M, 'remap: dontUnmap with another length', () => Mapping.anonymous(PAGE).remap(2 * PAGE, { mayMove: true, dontUnmap: true }), { code: ARG });
fails(M, 'remap: fixed at a kernel address', () => Mapping.anonymous(PAGE).remap(PAGE, { mayMove: true, fixed: 0xffff_8000_0000_0000n }), { code: 'EINVAL', syscall: 'mremap' });
fails(M, 'remap: fixed unaligned', () => Mapping.anonymous(PAGE).remap(PAGE, { mayMove: true, fixed: 0x10001n }), { code: ARG });
fails(M, 'unmapRange: offset unaligned', () => Mapping.anonymous(2 * PAGE).unmapRange(1), { code: ARG });
fails(M, 'unmapRange: past the end', () => Mapping.anonymous(PAGE).unmapRange(0, 2 * PAGE), { code: RANGE });
fails(M, 'unmap() twice', () => {
  const m = Mapping.anonymous(PAGE);
  m.unmap();
  m.unmap();
}, { code: STATE, message: 'is unmapped' });
fails(M, 'protect after unmap()', () => unmapped().protect('r'), { code: STATE });
fails(M, 'advise after unmap()', () => unmapped().advise('DONTNEED'), { code: STATE });
fails(M, 'remap after unmap()', () => unmapped().remap(PAGE), { code: STATE });
fails(M, 'range after unmap()', () => unmapped().range(), { code: STATE });
fails(M, 'touch after unmap()', () => unmapped().touch(), { code: STATE });
returns(M, 'view after unmap(): detached, writes go nowhere', () => unmapped().view, (v) => ((v as Uint8Array).length === 0 ? undefined : 'view still has a length'));
fails(M, 'set() on a detached view', () => unmapped().view.set([1]), { name: 'TypeError', message: 'detached ArrayBuffer' });
fails(M, 'a split tail after the head unmaps the whole of the old range', () => {
  const m = Mapping.anonymous(3 * PAGE);
  const alias = Mapping.adopt(m.address, 3 * PAGE);
  const tail = m.unmapRange(PAGE, PAGE)!;
  if (alias.mapped) throw new Error('the alias over the cut still says mapped');
  tail.unmap();
  m.unmap();
  alias.range();
}, { code: STATE, message: 'unmapped part of it' });
fails(M, 'a Mapping whose range was unmapped behind its back and mapped again', () => {
  const m = Mapping.anonymous(PAGE);
  native.munmap(m.address, PAGE);
  const again = native.mmap(m.address, PAGE, 3, 0x22 | 0x100000, -1, 0);
  const n = Mapping.adopt(again, PAGE);
  n.unmap();
  m.touch();
}, { code: STATE, message: 'no longer owns its range' });

// ------------------------------------------------------------------ page state

const P = 'pagestate';
fails(P, 'pageState(null)', () => ml.pageState(any(null)), { code: TYPE });
fails(P, "pageState({ address: '1', length })", () => ml.pageState(any({ address: '1', length: PAGE })), { code: TYPE });
fails(P, 'pageState: unaligned address', () => ml.pageState({ address: 0x1001n, length: PAGE }), { code: ARG });
fails(P, 'pageState: length 0', () => ml.pageState({ address: 0x1000n, length: 0 }), { code: ARG });
fails(P, 'pageState: overflowing range', () => ml.pageState({ address: (1n << 64n) - 4096n, length: 2 * PAGE }), { code: RANGE });
fails(P, 'pageState: a kernel range', () => ml.pageState({ address: 0xffff_8000_0000_0000n, length: PAGE }), { code: RANGE });
fails(P, 'pageState of an unmapped Mapping', () => ml.pageState(unmapped()), { code: STATE });
fails(P, 'pageSummary: NULL page', () => ml.pageSummary({ address: 0n, length: PAGE }), { code: ARG, message: 'NULL' });
fails(P, 'pageSummary: offset past the end of a Mapping', () => ml.pageSummary(Mapping.anonymous(PAGE), 2 * PAGE), { code: RANGE });
fails(P, 'pageSummary: a range with a hole in the middle', () => {
  const m = Mapping.anonymous(3 * PAGE);
  const r = { address: m.address, length: m.length };
  m.unmapRange(PAGE, PAGE);
  return ml.pageSummary(r);
}, { code: 'ENOMEM', syscall: 'mincore', message: 'hole=' });
returns(P, 'pageSummary of a PROT_NONE Mapping: answers (mapped)', () => ml.pageSummary(Mapping.anonymous(PAGE, { prot: 'none' })), (v) => ((v as { present: number }).present === 0 ? undefined : 'present pages'));
fails(P, 'pagemapScan of an unmapped Mapping', () => ml.pagemapScan(unmapped()), { code: STATE });
returns(P, 'isMapped of a hole: false', () => ml.isMapped(holeRange()), (v) => (v === false ? undefined : 'true'));

// ------------------------------------------------------------------ thread and fork accesses

const A = 'access';
fails(A, 'threadRead(null)', () => ml.threadRead(any(null)), { code: TYPE });
fails(A, 'threadRead: address a number', () => ml.threadRead(any({ address: 4096, length: PAGE })), { code: TYPE });
fails(A, 'threadRead: length 0', () => ml.threadRead({ address: 0x1000n, length: 0 }), { code: ARG });
fails(A, 'threadRead: length 1.5', () => ml.threadRead({ address: 0x1000n, length: 1.5 }), { code: ARG });
fails(A, 'threadRead: overflowing range', () => ml.threadRead({ address: (1n << 64n) - 4096n, length: 2 * PAGE }), { code: RANGE });
fails(A, 'threadRead: kernel address', () => ml.threadRead({ address: 0xffff_8000_0000_0000n, length: PAGE }), { code: RANGE });
fails(A, 'threadRead: NULL', () => ml.threadRead({ address: 0n, length: PAGE }), { code: ARG, message: 'NULL' });
fails(A, 'threadRead: stride 0', () => ml.threadRead(Mapping.anonymous(PAGE), { stride: 0 }), { code: ARG });
fails(A, 'threadRead: width -1', () => ml.threadRead(Mapping.anonymous(PAGE), { width: -1 }), { code: ARG });
fails(A, 'threadRead: startAtNs -1n', () => ml.threadRead(Mapping.anonymous(PAGE), { startAtNs: -1n }), { code: RANGE });
fails(A, 'threadRead: startAtNs 5 (a number)', () => ml.threadRead(Mapping.anonymous(PAGE), { startAtNs: any(5) }), { code: TYPE });
fails(A, 'threadWrite: fill 256', () => ml.threadWrite(Mapping.anonymous(PAGE), { fill: 256 }), { code: RANGE });
fails(A, 'threadWrite: data of the wrong size', () => ml.threadWrite(Mapping.anonymous(PAGE), { data: new Uint8Array(10) }), { code: ARG, message: 'exactly 4096 bytes' });
fails(A, 'threadWrite: data an array', () => ml.threadWrite(Mapping.anonymous(PAGE), { data: any([1, 2]) }), { code: TYPE });
fails(A, 'threadRead of an unmapped Mapping', () => ml.threadRead(unmapped()), { code: STATE, message: 'is unmapped' });
returns(A, 'forkAccess write on a read-only Mapping: the child dies of SIGSEGV, reported', () => ml.forkAccess(Mapping.anonymous(PAGE, { prot: 'r' }), { write: true, fill: 1 }), (v) => {
  const r = v as { termSignal: string | null; completed: number };
  return r.termSignal && /segmentation/i.test(r.termSignal) && r.completed === 0 ? undefined : `termSignal ${r.termSignal}`;
});
fails(A, 'stillPending: a non-promise', () => ml.stillPending(any(5), 1), { code: TYPE, message: 'a Promise' });
fails(A, 'stillPending: ms -1', () => ml.stillPending(Promise.resolve(), -1), { code: RANGE });

// ------------------------------------------------------------------ fault timing

const F = 'faults';
fails(F, 'touchRange: address a number', () => ml.touchRange(any(4096), PAGE), { code: TYPE });
fails(F, 'touchRange: unaligned address', () => ml.touchRange(0x1001n, PAGE), { code: ARG });
fails(F, 'touchRange: length 0', () => ml.touchRange(Mapping.anonymous(PAGE).address, 0), { code: RANGE });
fails(F, 'touchRange: overflowing range', () => ml.touchRange((1n << 64n) - 4096n, 2 * PAGE), { code: RANGE });
fails(F, "touchRange: access 'exec'", () => ml.touchRange(Mapping.anonymous(PAGE), { access: any('exec') }), { code: ARG });
fails(F, 'touchRange: stride 0', () => ml.touchRange(Mapping.anonymous(PAGE), { stride: 0 }), { code: RANGE });
fails(F, 'touchRange: 2^27 touches', () => ml.touchRange(Mapping.anonymous(PAGE).address, 2 ** 27, { stride: 1 }), { code: RANGE, message: 'touches' });
fails(F, 'touchRange: a range running into a hole', () => {
  const m = Mapping.anonymous(2 * PAGE);
  m.unmapRange(PAGE);
  return ml.touchRange(m.address, 2 * PAGE);
}, { code: 'ENOMEM', syscall: 'mincore' });
fails(F, 'runFaults: length 0', () => ml.runFaults({ length: 0 }), { code: RANGE });
fails(F, 'runFaults: unknown option', () => ml.runFaults(any({ length: PAGE, bogus: 1 })), { code: ARG });
fails(F, 'runFaults: read-only with write access', () => ml.runFaults({ length: PAGE, prot: 1 }), { code: ARG, message: 'PROT_WRITE' });
fails(F, 'runFaults: PROT_NONE read', () => ml.runFaults({ length: PAGE, prot: 0, access: 'read' }), { code: ARG, message: 'must allow access' });
fails(F, 'runFaults: align 3000', () => ml.runFaults({ length: PAGE, align: 3000 }), { code: ARG });
fails(F, 'runFaults: repetitions 0', () => ml.runFaults({ length: PAGE, repetitions: 0 }), { code: RANGE });
fails(F, 'clockOverhead(0)', () => ml.clockOverhead(0), { code: RANGE });

// ------------------------------------------------------------------ fork scenarios

const K = 'fork';
fails(K, 'forkChild(null)', () => ml.forkChild(any(null)), { code: TYPE });
fails(K, "forkChild: op 'jump'", () => ml.forkChild(any([{ op: 'jump' }])), { code: ARG, message: 'must be one of' });
fails(K, 'forkChild: write value 300', () => ml.forkChild([{ op: 'write', mapping: Mapping.anonymous(PAGE), value: 300 }]), { code: ARG, message: 'a byte' });
fails(K, 'forkChild: read of an unmapped Mapping', () => ml.forkChild([{ op: 'read', mapping: unmapped() }]), { code: STATE });
fails(K, 'forkChild: sleep -1', () => ml.forkChild([{ op: 'sleep', us: -1 }]), { code: RANGE });
fails(K, "runInChild with a 'wait'", () => ml.runInChild([{ op: 'wait' }]), { code: ARG, message: 'resume' });
returns(K, 'forkChild: a write to a hole kills only the child (SIGSEGV reported)', () => ml.runInChild([{ op: 'write', ...holeRange(), value: 1 }]), (v) => {
  const r = v as { signal: string | null };
  return r.signal === 'SIGSEGV' ? undefined : `signal ${r.signal}`;
});
fails(K, 'resume() after the child exited', async () => {
  const h = ml.forkChild([{ op: 'sleep', us: 1 }]);
  await h.done;
  h.resume();
}, { code: STATE, message: 'has exited' });

// ------------------------------------------------------------------ userfaultfd

const U = 'userfaultfd';
fails(U, "open: feature 'TELEPORT'", () => ml.Userfaultfd.open({ features: any(['TELEPORT']) }), { code: ARG });
fails(U, 'register: a hole', withUffd((u) => {
  u.register(holeRange(), 'missing');
}), { code: 'EINVAL', syscall: 'ioctl(UFFDIO_REGISTER)' });
fails(U, "register: mode 'sometimes'", withUffd((u) => {
  u.register(Mapping.anonymous(PAGE), any('sometimes'));
}), { code: ARG });
fails(U, 'register after close()', () => {
  const u = ml.Userfaultfd.open();
  u.close();
  u.register(Mapping.anonymous(PAGE), 'missing');
}, { code: STATE, message: 'closed' });
fails(U, 'copy into a hole', withUffd((u) => {
  u.copy(holeRange(), new Uint8Array(4 * PAGE));
}), { code: 'ENOENT' });
fails(U, 'copy: data of the wrong size', withUffd((u) => {
  const m = Mapping.anonymous(PAGE);
  u.register(m, 'missing');
  u.copy(m, new Uint8Array(10));
}), { code: RANGE, message: 'src.byteLength' });
fails(U, 'copy from a kernel address', withUffd((u) => {
  const m = Mapping.anonymous(PAGE);
  u.register(m, 'missing');
  u.copy(m, 0xffff_8000_0000_0000n);
}), { code: 'EINVAL', syscall: 'ioctl(UFFDIO_COPY)' });
fails(U, 'zeropage of an unregistered range', withUffd((u) => {
  u.zeropage(Mapping.anonymous(PAGE));
}), { code: 'ENOENT', syscall: 'ioctl(UFFDIO_ZEROPAGE)' });
fails(U, 'nextEvent: timeout', withUffd(async (u) => {
  await u.nextEvent('pagefault', { timeoutMs: 10 });
}), { code: 'ETIMEDOUT' });
fails(U, 'read() while listening', withUffd((u) => {
  u.listen();
  u.read();
}), { code: STATE });

// ------------------------------------------------------------------ device memory helpers

const D = 'devmem';
fails(D, 'patternFill of a hole', () => ml.patternFill(holeRange().address, PAGE, 1n), { code: 'ENOMEM', syscall: 'mincore' });
fails(D, 'patternFill of a read-only Mapping', () => ml.patternFill(Mapping.anonymous(PAGE, { prot: 'r' }).address, PAGE, 1n), { code: ARG, message: 'writable' });
fails(D, 'patternCheck of a PROT_NONE Mapping', () => ml.patternCheck(Mapping.anonymous(PAGE, { prot: 'none' }).address, PAGE, 1n), { code: ARG, message: 'readable' });
fails(D, 'patternFill of a kernel address', () => ml.patternFill(0xffff_8000_0000_0000n, PAGE, 1n), { code: RANGE });
fails(D, 'patternFill: seed a number', () => ml.patternFill(Mapping.anonymous(PAGE).address, PAGE, any(1)), { code: TYPE });
fails(D, 'patternFill: length unaligned', () => ml.patternFill(Mapping.anonymous(PAGE).address, 100, 1n), { code: ARG });
fails(D, 'patternCheck: base -1', () => ml.patternCheck(Mapping.anonymous(PAGE).address, PAGE, 1n, -1), { code: RANGE });
returns(D, 'patternFill then patternCheck: 0 mismatches', () => {
  const m = Mapping.anonymous(4 * PAGE);
  ml.patternFill(m.address, m.length, 5n);
  return ml.patternCheck(m.address, m.length, 5n);
}, (v) => (v === 0 ? undefined : `${String(v)} mismatches`));
fails(D, 'FakeVram.open of a missing device', () => ml.FakeVram.open('/dev/nonexistent-fakevram'), { code: 'ENOENT' });
fails(D, 'FakeVram.open(5)', () => ml.FakeVram.open(any(5)), { code: TYPE });

// ------------------------------------------------------------------ the rest

const O = 'misc';
fails(O, 'pageNodes([])', () => ml.pageNodes([]), { code: TYPE });
fails(O, 'movePages: nodes of another length', () => ml.movePages([Mapping.anonymous(PAGE).address], [0, 0]), { code: ARG });
fails(O, 'movePages: node 64', () => ml.movePages([Mapping.anonymous(PAGE).address], [64]), { code: RANGE });
fails(O, "setShmemThp('sometimes')", () => ml.setShmemThp(any('sometimes')), { code: ARG });
fails(O, "NativeLibrary.open('')", () => ml.NativeLibrary.open(''), { code: ARG });
fails(O, 'NativeLibrary.open of a missing library', () => ml.NativeLibrary.open('libdoes-not-exist.so.9'), { code: 'ERR_DLOPEN_FAILED' });
fails(O, 'isMapped(null)', () => ml.isMapped(any(null)), { code: TYPE });
fails(O, 'isMapped: address a string', () => ml.isMapped(any({ address: 'x', length: PAGE })), { code: TYPE });
fails(O, 'smapsFor: pid -1', () => ml.smapsFor(Mapping.anonymous(PAGE), any(-1)), { code: ARG, message: 'process id' });
fails(O, 'smapsFor of a pid that does not exist', () => ml.smapsFor(Mapping.anonymous(PAGE), 0x3fffffff), { code: 'ENOENT' });
fails(O, 'summarize(null)', () => ml.summarize(any(null)), { code: TYPE });

export const misuseCases: readonly MisuseCase[] = cases;

/** The child process each case runs in: its own for `alone` cases, else its group's. */
export function childOf(c: MisuseCase): string {
  return c.alone ? `${c.group}:${c.name}` : c.group;
}

// Files the cases create.
export function cleanup(): void {
  fs.rmSync('/tmp/mirrorlab-misuse-file', { force: true });
}
