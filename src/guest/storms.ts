// Storms against mirrordrm in the guest (test/guest/storms.test.ts): thousands
// of objects over one range, the invalidation log overflowing, device reads
// from both vCPUs while the range is unmapped, moved, forked or its process
// exits, and a process killed while it holds userfaults. Each returns what
// the host asserts exactly: records, per-object counters, per-thread read
// outcomes, FOLL_PIN counters from /proc/vmstat.
import fs from 'node:fs';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { native } from '../addon.js';
import { MockDrm } from '../mirror/mockdrm.js';
import { decodeCounters, decodeRecords } from '../mirror/decode.js';
import { MIRRORDRM_LAYOUT } from '../mirror/uapi.js';
import type { MirrordrmStormThread } from '../native.js';
import type { InvalidationRecord } from '../mirror/types.js';
import { PAGE, mapAnon, unmapAll } from './common.js';

const md = native.mirrordrm;
const K = native.mirrordrmConstants;

/** FOLL_PIN pages taken and given back since boot (/proc/vmstat). */
export function pinCounters(): { acquired: number; released: number } {
  // the counters are per CPU, folded into /proc/vmstat about once a second;
  // stat_refresh folds them now (root), so the figures are exact
  fs.writeFileSync('/proc/sys/vm/stat_refresh', '1');
  const text = fs.readFileSync('/proc/vmstat', 'utf8');
  const get = (name: string) => {
    const m = new RegExp(`^${name} (\\d+)$`, 'm').exec(text);
    if (!m) throw new Error(`/proc/vmstat has no ${name}`);
    return Number(m[1]);
  };
  return { acquired: get('nr_foll_pin_acquired'), released: get('nr_foll_pin_released') };
}

/** MemFree, MemAvailable and AnonPages in KiB (/proc/meminfo, counters folded first). */
export function memInfo(): { free: number; available: number; anon: number } {
  fs.writeFileSync('/proc/sys/vm/stat_refresh', '1');
  const text = fs.readFileSync('/proc/meminfo', 'utf8');
  const get = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB$`, 'm').exec(text)![1]);
  return { free: get('MemFree'), available: get('MemAvailable'), anon: get('AnonPages') };
}

/** Records counted by shape: {"UNMAP +0 +16384 dropped 4": 4096}, addresses relative to base. */
function shapes(records: InvalidationRecord[], base: bigint): Record<string, number> {
  const by: Record<string, number> = {};
  for (const r of records) {
    const end = r.end === 0xffff_ffff_ffff_ffffn ? 'ULONG_MAX' : `+${r.end - base}`;
    const start = r.start === 0n ? '0' : `+${r.start - base}`;
    const k = `${r.event} ${start} ${end} dropped ${r.pagesDropped}${r.keptStale ? ' kept-stale' : ''}${r.blockable ? '' : ' non-blockable'}`;
    by[k] = (by[k] ?? 0) + 1;
  }
  return by;
}

/** The records of a whole drain, read 256 at a time as the kernel hands them out. */
function drainAll(fd: number) {
  const records: InvalidationRecord[] = [];
  const reads: { count: number; lost: bigint; lostTotal: bigint; pending: number }[] = [];
  for (;;) {
    const r = md.invalRead(fd, 256);
    records.push(...decodeRecords(r.records));
    reads.push({ count: r.count, lost: r.lost, lostTotal: r.lostTotal, pending: r.pending });
    if (r.count === 0 || r.pending === 0) break;
  }
  return { records, reads };
}

function counters(fd: number, handle: number) {
  return decodeCounters(md.stats(fd, handle));
}

/**
 * `count` objects of one mode over the same `pages`-page anonymous range (GUP
 * pins every page per object; HMM populated at creation), then one munmap of
 * the range, then every object closed. Returns the file's counters at each
 * step, the records of the munmap, and the FOLL_PIN counters around it all.
 */
export function manyObjects(mode: 'gup' | 'hmm', count: number, pages: number) {
  const pinsBefore = pinCounters();
  using dev = MockDrm.open();
  const fd = dev.fd as number;
  const len = pages * PAGE;
  const r = mapAnon(len);
  r.bytes.fill(0x5a);
  const flags = mode === 'gup' ? K.MIRRORDRM_USERPTR_MODE_GUP : K.MIRRORDRM_USERPTR_MODE_HMM | K.MIRRORDRM_USERPTR_POPULATE;
  const handles: number[] = [];
  let unmapped = false;
  try {
    for (let i = 0; i < count; i++) handles.push(md.userptr(fd, r.addr, len, flags));
    const created = counters(fd, 0);
    const pinsCreated = pinCounters();
    const beforeMunmap = drainAll(fd).records.length;
    // a device read through the last object: the mirror works before the storm
    const probe = new Uint8Array(len);
    md.access(fd, handles[count - 1], 0, K.MIRRORDRM_ACCESS_READ, probe);
    unmapAll(r);
    unmapped = true;
    const { records, reads } = drainAll(fd);
    const perHandle = new Map<number, number>();
    for (const x of records) perHandle.set(x.handle, (perHandle.get(x.handle) ?? 0) + 1);
    const seqs = records.map((x) => Number(x.seq));
    const afterMunmap = counters(fd, 0);
    for (const h of handles) md.gemClose(fd, h);
    const closed = counters(fd, 0);
    return {
      distinctHandles: new Set(handles).size,
      created: { objects: created.objects, pages: created.pages, pagesPinned: created.pagesPinned, pagesValid: created.pagesValid },
      probeBytesOk: probe.every((b) => b === 0x5a),
      recordsBeforeMunmap: beforeMunmap,
      records: records.length,
      shapes: shapes(records, r.addr),
      handlesHitOnce: [...perHandle.values()].filter((n) => n === 1).length,
      handlesHit: handles.filter((h) => perHandle.has(h)).length,
      seqContiguous: seqs.every((s, i) => i === 0 || s === seqs[i - 1] + 1),
      lost: reads.reduce((a, x) => a + x.lost, 0n),
      lostTotal: reads[reads.length - 1].lostTotal,
      afterMunmap: { invalidations: afterMunmap.invalidations, unmap: afterMunmap.byEvent.UNMAP, pagesDropped: afterMunmap.pagesDropped, pagesPinned: afterMunmap.pagesPinned, pagesValid: afterMunmap.pagesValid },
      closed: { objects: closed.objects, pagesPinned: closed.pagesPinned },
      pins: { before: pinsBefore, created: pinsCreated, after: pinCounters() },
    };
  } finally {
    for (const h of handles) {
      try {
        md.gemClose(fd, h);
      } catch {
        /* closed above */
      }
    }
    if (!unmapped) unmapAll(r);
  }
}

/**
 * The log overflowing: `count` HMM objects (not populated, so nothing to
 * drop) over one range on a fresh file, so one munmap appends `count`
 * records to a ring of `ringSize`. Reads the whole log back, then asks each
 * object for its own log_lost counter, then makes one more record (a new
 * object over a new range, unmapped) after the drain.
 */
export function logOverflow(count: number) {
  using dev = MockDrm.open();
  const fd = dev.fd as number;
  const r = mapAnon(PAGE);
  r.bytes.fill(1);
  const handles: number[] = [];
  try {
    for (let i = 0; i < count; i++) handles.push(md.userptr(fd, r.addr, PAGE, K.MIRRORDRM_USERPTR_MODE_HMM));
    // nothing yet: an empty read gives the state of an untouched log
    const empty = md.invalRead(fd, 256);
    // mapped now, so that it cannot land in the hole the munmap leaves, where
    // all the objects above would see its unmap too
    const r2 = mapAnon(PAGE);
    unmapAll(r);
    const { records, reads } = drainAll(fd);
    const kept = new Set(records.map((x) => x.handle));
    const lostByObject: number[] = [];
    const keptLogLost: number[] = [];
    for (const h of handles) {
      const c = counters(fd, h);
      if (kept.has(h)) keptLogLost.push(c.logLost);
      else lostByObject.push(c.logLost);
    }
    const file = counters(fd, 0);
    // one more event after the drain: its seq shows the records lost in between
    const h2 = md.userptr(fd, r2.addr, PAGE, K.MIRRORDRM_USERPTR_MODE_HMM);
    handles.push(h2);
    unmapAll(r2);
    const after = drainAll(fd);
    const seqs = records.map((x) => Number(x.seq));
    return {
      empty: { count: empty.count, lost: empty.lost, lostTotal: empty.lostTotal, pending: empty.pending },
      reads,
      records: records.length,
      firstSeq: seqs[0],
      lastSeq: seqs[seqs.length - 1],
      seqContiguous: seqs.every((s, i) => i === 0 || s === seqs[i - 1] + 1),
      shapes: shapes(records, r.addr),
      keptDistinct: kept.size,
      keptAllOurs: [...kept].every((h) => handles.includes(h)),
      lostObjects: lostByObject.length,
      lostObjectsCounter: lostByObject.reduce((a, b) => a + b, 0),
      lostObjectsAllOne: lostByObject.every((n) => n === 1),
      keptObjectsCounter: keptLogLost.reduce((a, b) => a + b, 0),
      file: { invalidations: file.invalidations, unmap: file.byEvent.UNMAP, logLost: file.logLost },
      next: after.records.map((x) => ({ seq: Number(x.seq), handle: x.handle === h2, event: x.event })),
      nextReads: after.reads,
    };
  } finally {
    for (const h of handles) md.gemClose(fd, h);
  }
}

async function until(cond: () => boolean, what: string, limitMs = 60_000): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    // a limit on waiting only, so that a stuck storm fails with a reason instead of hanging
    if (Date.now() - t0 > limitMs) throw new Error(`storm: ${what} did not happen within ${limitMs} ms`);
    await new Promise((res) => setTimeout(res, 2));
  }
}

/** The CPUs online in the guest (/sys/devices/system/cpu/online: "0-1"). */
export function onlineCpus(): number[] {
  const out: number[] = [];
  for (const part of fs.readFileSync('/sys/devices/system/cpu/online', 'utf8').trim().split(',')) {
    const [a, b] = part.split('-').map(Number);
    for (let c = a; c <= (b ?? a); c++) out.push(c);
  }
  return out;
}

export type StormKind = 'munmap' | 'mremap' | 'fork' | 'exit';

/** Per handle, the reads of all threads added up. */
function sumThreads(threads: MirrordrmStormThread[], n: number) {
  const out = Array.from({ length: n }, () => ({ ok: 0, wrong: 0, errors: {} as Record<string, number> }));
  for (const t of threads) {
    t.handles.forEach((h, i) => {
      out[i].ok += h.ok;
      out[i].wrong += h.wrong;
      for (const [k, v] of Object.entries(h.errors)) out[i].errors[k] = (out[i].errors[k] ?? 0) + v;
    });
  }
  return out;
}

/**
 * Device reads from one thread pinned to each of CPU 0 and 1, through a GUP
 * object and a populated HMM object over the same 16 pages of 0x5a, while
 * this thread unmaps the range, moves it (mremap MAYMOVE), forks a child
 * that exits at once, or (exit) while a forked child that created both
 * objects over its own copy of the range (0x6b) exits. The storm is under
 * way (`warmup` reads) before the step and goes on for `after` reads past
 * it. Returns each thread's outcome, the records, and the pins around it.
 */
export async function accessStorm(kind: StormKind, warmup = 64, after = 64) {
  const pinsBefore = pinCounters();
  const pages = 16;
  const len = pages * PAGE;
  using dev = MockDrm.open();
  const fd = dev.fd as number;
  const r = guarded(len);
  r.bytes.fill(0x5a);
  // mremap's destination, reserved (and guarded) so that the range must move
  const dst = kind === 'mremap' ? guarded(len) : null;
  const control = new Int32Array(2);
  let handles: number[] = [];
  let expectByte = 0x5a;
  let child: import('../memory/fork.js').ForkHandle | null = null;
  let step: Record<string, unknown> = {};
  try {
    if (kind === 'exit') {
      const { forkChild } = await import('../memory/fork.js');
      const U = MIRRORDRM_LAYOUT.drm_mirrordrm_userptr;
      const arg = (flags: number) => {
        const a = new Uint8Array(U.sizeof);
        const dv = new DataView(a.buffer);
        dv.setBigUint64(U.address, r.addr, true);
        dv.setBigUint64(U.size, BigInt(len), true);
        dv.setUint32(U.flags, flags, true);
        return a;
      };
      const req = K.DRM_IOCTL_MIRRORDRM_USERPTR as number;
      child = forkChild([
        { op: 'write', address: r.addr, length: len, value: 0x6b }, // the child's own copy
        { op: 'ioctl', fd, request: req, data: arg(K.MIRRORDRM_USERPTR_MODE_GUP) },
        { op: 'ioctl', fd, request: req, data: arg(K.MIRRORDRM_USERPTR_MODE_HMM | K.MIRRORDRM_USERPTR_POPULATE) },
        { op: 'wait' },
      ]);
      await child.waiting();
      // The child's objects are the only ones on this new file, so the DRM
      // core gave them the lowest free handles, 1 and 2 (idr_alloc from 1);
      // their counters confirm which is which, the child's results after exit too.
      handles = [1, 2];
      const g = counters(fd, 1);
      const h = counters(fd, 2);
      step.childObjects = { gupPages: g.gupPages, gupPinned: g.pagesPinned, hmmFaults: h.hmmRangeFaultCalls, hmmValid: h.pagesValid };
      expectByte = 0x6b;
    } else {
      handles = [
        md.userptr(fd, r.addr, len, K.MIRRORDRM_USERPTR_MODE_GUP),
        md.userptr(fd, r.addr, len, K.MIRRORDRM_USERPTR_MODE_HMM | K.MIRRORDRM_USERPTR_POPULATE),
      ];
    }
    dev.drainInvalidations();
    const cpus = [0, 1];
    const storm = md.accessStorm(fd, handles, new Uint8Array(handles.length).fill(expectByte), len, cpus, control, 1_000_000);
    let stormDone = false;
    void storm.finally(() => (stormDone = true)).catch(() => undefined);
    await until(() => Atomics.load(control, 1) >= warmup || stormDone, `${warmup} reads before the ${kind}`);
    const atStep = Atomics.load(control, 1);
    if (kind === 'munmap') {
      r.release();
      native.munmap(r.addr, len);
    } else if (kind === 'mremap') {
      const c = native.mmConstants;
      r.release();
      dst!.release();
      const to: bigint = native.mremap(r.addr, len, len, c.MREMAP_MAYMOVE | c.MREMAP_FIXED, dst!.addr);
      const moved = native.newView(to, len, false);
      step = { moved: to === dst!.addr, cpuAtNewAddress: new Uint8Array(moved.buffer).every((b) => b === 0x5a) };
      native.releaseView(moved.buffer, moved.record);
    } else if (kind === 'fork') {
      const { forkChild } = await import('../memory/fork.js');
      const res = await forkChild([]).done;
      step = { childExit: res.exitCode, childSignal: res.signal };
    } else {
      child!.resume();
      const res = await child!.done;
      const handleOf = (i: number) => {
        const x = res.results[i];
        if (!x?.ok || !x.bytes) throw new Error(`child ioctl ${i} failed: ${x?.code}`);
        return new DataView(x.bytes.buffer, x.bytes.byteOffset, x.bytes.byteLength).getUint32(MIRRORDRM_LAYOUT.drm_mirrordrm_userptr.handle, true);
      };
      step = { ...step, childExit: res.exitCode, childSignal: res.signal, childHandles: [handleOf(1), handleOf(2)] };
      child = null;
    }
    const afterStep = Atomics.load(control, 1);
    await until(() => Atomics.load(control, 1) >= afterStep + after || stormDone, `${after} reads after the ${kind}`);
    Atomics.store(control, 0, 1);
    const threads = await storm;
    const { records } = dev.drainInvalidations();
    const perHandle = sumThreads(threads, handles.length);
    const objects = handles.map((h) => {
      const c = counters(fd, h);
      return { pagesPinned: c.pagesPinned, byEvent: Object.fromEntries(Object.entries(c.byEvent).filter(([, n]) => n > 0)) };
    });
    for (const h of handles) md.gemClose(fd, h);
    const closed = counters(fd, 0);
    return {
      kind,
      base: r.addr,
      readsBeforeStep: atStep,
      readsAtEnd: threads.reduce((a, t) => a + t.accesses, 0),
      step,
      threads: threads.map((t) => ({ cpu: t.cpu, cpusSeen: t.cpusSeen, accesses: t.accesses, capped: t.capped, firstWrong: t.firstWrong })),
      gup: perHandle[0],
      hmm: perHandle[1],
      records: records.map((x) => ({ handle: handles.indexOf(x.handle), event: x.event, start: x.start === 0n ? 0 : Number(x.start - r.addr), end: x.end === 0xffff_ffff_ffff_ffffn ? -1 : Number(x.end - r.addr), pagesDropped: x.pagesDropped, keptStale: x.keptStale })),
      objects,
      closed: { objects: closed.objects, pagesPinned: closed.pagesPinned },
      pins: { before: pinsBefore, after: pinCounters() },
    };
  } finally {
    Atomics.store(control, 0, 1);
    if (child) child.kill();
    r.unmap();
    dst?.unmap();
  }
}

/**
 * `len` bytes of anonymous memory between two PROT_NONE guard pages: a VMA
 * of its own, so that the ranges the notifier reports are exactly its own.
 */
function guarded(len: number) {
  const c = native.mmConstants;
  const total = len + 2 * PAGE;
  const base: bigint = native.mmap(0n, total, c.PROT_NONE, c.MAP_PRIVATE | c.MAP_ANONYMOUS, -1, 0);
  const addr = base + BigInt(PAGE);
  native.mprotect(addr, len, c.PROT_READ | c.PROT_WRITE);
  let view: ReturnType<typeof native.newView> | null = native.newView(addr, len, false);
  const bytes = new Uint8Array(view.buffer);
  const release = () => {
    if (view) native.releaseView(view.buffer, view.record);
    view = null;
  };
  // munmap of the whole reservation: also whatever part of it is a hole by now
  return { addr, bytes, release, unmap: () => (release(), native.munmap(base, total)) };
}

/**
 * A process killed while it holds userfaults: a node child (storm-holder.js)
 * pins 32 MiB through a GUP object, mirrors it with an HMM object, and then
 * holds two faults on a userfaultfd MISSING range, one in a GUP object's
 * creation (pin_user_pages on the thread pool) and one in a CPU read from a
 * thread, never resolving them. Once it says so, SIGKILL. Returns how the
 * child ended, the pins and free memory before, while held and after, and
 * whether a fresh file still mirrors memory.
 */
export async function killHoldingFaults() {
  const pinsBefore = pinCounters();
  const memBefore = memInfo();
  const script = fileURLToPath(new URL('./storm-holder.js', import.meta.url));
  const child = spawn(process.execPath, [script], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<{ code: number | null; signal: string | null }>((res) => child.on('exit', (code, signal) => res({ code, signal })));
  let ended: { code: number | null; signal: string | null } | null = null;
  void exited.then((e) => (ended = e));
  try {
    await until(() => /^held /m.test(out) || ended !== null, 'the holder holding its faults', 120_000);
  } catch (e) {
    child.kill('SIGKILL'); // no holder left behind in the guest
    throw new Error(`${(e as Error).message}\n${out}\n${err}`);
  }
  if (ended) throw new Error(`storm-holder ended before holding its faults: ${JSON.stringify(ended)}\n${out}\n${err}`);
  const held = JSON.parse(/^held (.*)$/m.exec(out)![1]) as { pinnedPages: number; faults: number[]; gupSettled: boolean; readSettled: boolean };
  const pinsHeld = pinCounters();
  const memHeld = memInfo();
  // the holder's own anonymous memory: system-wide AnonPages moves with
  // whatever else the guest frees meanwhile (the agent's heap)
  const holderAnonKiB = Number(/^RssAnon:\s+(\d+) kB$/m.exec(fs.readFileSync(`/proc/${child.pid}/status`, 'utf8'))![1]);
  // the held tasks, as the kernel sees them (state letter of each thread)
  const threadStates: string[] = [];
  for (const t of fs.readdirSync(`/proc/${child.pid}/task`)) {
    try {
      threadStates.push(/^State:\s+(\S)/m.exec(fs.readFileSync(`/proc/${child.pid}/task/${t}/status`, 'utf8'))![1]);
    } catch {
      /* gone */
    }
  }
  child.kill('SIGKILL');
  const end = await exited;
  // the exit's last references (the file, its objects) go with the task; the pins with them
  await until(() => {
    const p = pinCounters();
    return p.acquired === p.released;
  }, 'every pin given back after the kill', 30_000).catch(() => undefined);
  const pinsAfter = pinCounters();
  const memAfter = memInfo();
  // the guest goes on: a new file mirrors and reads memory
  using dev = MockDrm.open();
  const r = mapAnon(4 * PAGE);
  r.bytes.fill(0x3c);
  let healthy = false;
  try {
    using buf = await dev.userptr({ address: r.addr, length: r.length }, { mode: 'gup' });
    const got = await buf.read(0, r.length);
    healthy = got.every((b) => b === 0x3c);
  } finally {
    unmapAll(r);
  }
  return { held, threadStates, end, stderr: err, pins: { before: pinsBefore, held: pinsHeld, after: pinsAfter }, mem: { before: memBefore, held: memHeld, after: memAfter }, holderAnonKiB, healthy };
}
