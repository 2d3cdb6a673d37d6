// Fork scenarios: a list of memory operations run by a real forked child.
//
// The child runs native code only (native/fork_child.cc): no JavaScript after
// fork(). It reports each operation through a pipe and exits with _exit(). The
// parent waits on its own native thread, so this JavaScript thread stays free
// (to serve userfaults, to act between child steps) while the child runs.
//
//   const h = forkChild([
//     { op: 'write', mapping: m, offset: 0, length: 4096, value: 0xaa },
//     { op: 'wait' },                          // child blocks here
//     { op: 'read', mapping: m, offset: 0, length: 16 },
//   ]);
//   await h.waiting();      // the child reached the wait
//   m.view[0] = 1;          // the parent acts (copy-on-write race staging)
//   h.resume();
//   const r = await h.done; // { exitCode, signal, results: [{ ok, bytes? }, ...] }
//
// A running child keeps the process alive (so `await h.done` works on its
// own); a child blocked in a 'wait' does not: only JavaScript can resume it,
// so if nothing else is left to run, Node exits instead of waiting forever.
// Children still alive when the process exits are killed (SIGKILL): a child
// in a 'wait' would otherwise resume on its own once the parent's end of the
// pipe closes.
import fs from 'node:fs';
import os from 'node:os';
import { native } from '../addon.js';
import type { NativeForkEvent, NativeForkOp } from '../native.js';
import { invalidArg, invalidState, invalidType } from '../errors.js';
import { adviceValue, protBits, type Advice, type Prot } from './constants.js';
import { Mapping } from './mapping.js';
import { PAGE_SIZE, checkAddress, checkNoOverflow, checkSize, checkSubrange } from './validate.js';

const OPS = native.forkConstants;

/** Where an operation acts: a Mapping (offset/length within it) or a raw address range. */
export type ForkTarget =
  | { mapping: Mapping; offset?: number; length?: number }
  | { address: bigint; length: number };

export type ForkOp =
  | ({ op: 'write'; value?: number; data?: Uint8Array } & ForkTarget)
  | ({ op: 'read' } & ForkTarget)
  | ({ op: 'madvise'; advice: Advice | string } & ForkTarget)
  | ({ op: 'mprotect'; prot: Prot } & ForkTarget)
  | ({ op: 'munmap' } & ForkTarget)
  | { op: 'sleep'; us: number }
  /** ioctl(fd, request, copy of data) on a file the child inherited; result.bytes is the argument afterwards */
  | { op: 'ioctl'; fd: number; request: number; data: Uint8Array }
  | { op: 'wait' };

export interface ForkOpResult {
  index: number;
  op: ForkOp['op'];
  ok: boolean;
  /** negative errno on failure, as in Node */
  errno?: number;
  code?: string;
  /** read: the bytes the child saw; ioctl: the argument after the call */
  bytes?: Uint8Array;
}

export interface ForkResult {
  pid: number;
  exitCode: number | null;
  /** the signal that killed the child ('SIGSEGV'), or null */
  signal: string | null;
  /** one entry per operation; undefined for operations the child never finished (it died first) */
  results: (ForkOpResult | undefined)[];
}

export interface ForkHandle {
  readonly pid: number;
  /** resolves with the op index when the child reports it reached the next 'wait' */
  waiting(): Promise<number>;
  /** let the child go on past its current 'wait' */
  resume(): void;
  /** send a signal to the child (default SIGKILL) */
  kill(signal?: NodeJS.Signals): void;
  readonly done: Promise<ForkResult>;
}

function target(op: Record<string, unknown>, i: number, align: number, defaultLength?: number): { addr: bigint; length: number } {
  const where = `ops[${i}]`;
  if (op.mapping !== undefined) {
    if (!(op.mapping instanceof Mapping)) throw invalidType(`${where}.mapping`, op.mapping, 'a Mapping');
    if (!op.mapping.mapped) throw invalidState(`${where}: the mapping is unmapped`);
    const r = checkSubrange(op.mapping.length, op.offset, op.length ?? defaultLength, align);
    return { addr: op.mapping.address + BigInt(r.offset), length: r.length };
  }
  if (op.address === undefined) throw invalidArg(where, op, 'needs a mapping or an address');
  const addr = checkAddress(`${where}.address`, op.address, align > 1 ? align : 0);
  const length = checkSize(`${where}.length`, op.length, { nonZero: true, align: align > 1 ? align : undefined });
  checkNoOverflow(addr, length, `${where}.length`);
  return { addr, length };
}

function compile(ops: readonly ForkOp[]): NativeForkOp[] {
  if (!Array.isArray(ops)) throw invalidType('ops', ops, 'an array of operations');
  return ops.map((raw, i) => {
    if (raw === null || typeof raw !== 'object') throw invalidType(`ops[${i}]`, raw, 'an operation object');
    const op = raw as unknown as Record<string, unknown>;
    switch (op.op) {
      case 'write': {
        if (op.data !== undefined) {
          if (!(op.data instanceof Uint8Array)) throw invalidType(`ops[${i}].data`, op.data, 'a Uint8Array');
          const t = target(op, i, 1, op.length === undefined ? op.data.length : undefined);
          if (t.length !== op.data.length) throw invalidArg(`ops[${i}].length`, op.length, `must equal data.length (${op.data.length})`);
          return { code: OPS.OP_WRITE, ...t, arg: 0, data: op.data };
        }
        const t = target(op, i, 1);
        const value = op.value === undefined ? 0 : checkSize(`ops[${i}].value`, op.value);
        if (value > 255) throw invalidArg(`ops[${i}].value`, op.value, 'must be a byte (0..255)');
        return { code: OPS.OP_FILL, ...t, arg: value };
      }
      case 'read': {
        const t = target(op, i, 1);
        if (t.length > 0x7fffffff) throw invalidArg(`ops[${i}].length`, t.length, 'must be below 2 GiB for a read');
        return { code: OPS.OP_READ, ...t, arg: 0 };
      }
      case 'madvise':
        return { code: OPS.OP_MADVISE, ...target(op, i, PAGE_SIZE), arg: adviceValue(op.advice, `ops[${i}].advice`) };
      case 'mprotect':
        return { code: OPS.OP_MPROTECT, ...target(op, i, PAGE_SIZE), arg: protBits(op.prot, `ops[${i}].prot`) };
      case 'munmap':
        return { code: OPS.OP_MUNMAP, ...target(op, i, PAGE_SIZE), arg: 0 };
      case 'ioctl': {
        if (!Number.isInteger(op.fd) || (op.fd as number) < 0) throw invalidArg(`ops[${i}].fd`, op.fd, 'must be a file descriptor');
        if (!Number.isInteger(op.request) || (op.request as number) < 0 || (op.request as number) > 0xffffffff)
          throw invalidArg(`ops[${i}].request`, op.request, 'must be an ioctl request number (u32)');
        if (!(op.data instanceof Uint8Array) || op.data.length === 0) throw invalidType(`ops[${i}].data`, op.data, 'a non-empty Uint8Array');
        return { code: OPS.OP_IOCTL, addr: BigInt(op.request as number), length: op.data.length, arg: op.fd as number, data: op.data };
      }
      case 'sleep':
        return { code: OPS.OP_SLEEP, addr: 0n, length: 0, arg: checkSize(`ops[${i}].us`, op.us) };
      case 'wait':
        return { code: OPS.OP_WAIT, addr: 0n, length: 0, arg: 0 };
      default:
        throw invalidArg(`ops[${i}].op`, op.op, "must be one of 'write', 'read', 'madvise', 'mprotect', 'munmap', 'ioctl', 'sleep', 'wait'");
    }
  });
}

// pids of the children not yet reaped, killed if the process exits first.
const liveChildren = new Set<number>();
let exitHookInstalled = false;

function killLiveChildren(): void {
  for (const pid of liveChildren) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
}

const signalNames: Record<number, string> = Object.fromEntries(
  Object.entries(os.constants.signals).map(([k, v]) => [v as number, k]),
);

/** Fork a child that runs `ops` in order (native code only); see the file comment. */
export function forkChild(ops: readonly ForkOp[]): ForkHandle {
  const compiled = compile(ops);
  const results: (ForkOpResult | undefined)[] = new Array(compiled.length).fill(undefined);
  const waitQueue: number[] = [];
  const waiters: { resolve: (i: number) => void; reject: (e: Error) => void }[] = [];
  let ctlFd: number | undefined;
  let exited = false;
  let resolveDone!: (r: ForkResult) => void;
  const done = new Promise<ForkResult>((res) => (resolveDone = res));

  // The native callback is unref'd: this interval keeps the event loop alive
  // while the child runs, and is unref'd while it waits to be resumed.
  const keepAlive = setInterval(() => {}, 1 << 30);

  const onEvent = (ev: NativeForkEvent) => {
    if (ev.type === 'wait') {
      keepAlive.unref();
      const w = waiters.shift();
      if (w) w.resolve(ev.index);
      else waitQueue.push(ev.index);
      return;
    }
    if (ev.type === 'result') {
      const r: ForkOpResult = { index: ev.index, op: ops[ev.index].op, ok: ev.errno === 0 };
      if (ev.errno !== 0) {
        r.errno = ev.errno;
        r.code = ev.code;
      }
      if (ev.bytes) r.bytes = new Uint8Array(ev.bytes.buffer, ev.bytes.byteOffset, ev.bytes.byteLength);
      results[ev.index] = r;
      return;
    }
    // exit
    exited = true;
    clearInterval(keepAlive);
    liveChildren.delete(ev.pid);
    if (ctlFd !== undefined) {
      fs.closeSync(ctlFd);
      ctlFd = undefined;
    }
    const signal = ev.signal === null ? null : (signalNames[ev.signal] ?? `signal ${ev.signal}`);
    for (const w of waiters.splice(0)) w.reject(new Error(`child ${ev.pid} exited (${signal ?? 'code ' + ev.exitCode}) before reaching a wait`));
    resolveDone({ pid: ev.pid, exitCode: ev.exitCode, signal, results });
  };

  let r: { pid: number; ctlFd: number };
  try {
    r = native.forkRun(compiled, onEvent, true);
  } catch (e) {
    clearInterval(keepAlive);
    throw e;
  }
  ctlFd = r.ctlFd;
  const pid = r.pid;
  if (!exited) liveChildren.add(pid);
  if (!exitHookInstalled) {
    process.on('exit', killLiveChildren);
    exitHookInstalled = true;
  }
  return {
    pid,
    done,
    waiting() {
      const q = waitQueue.shift();
      if (q !== undefined) return Promise.resolve(q);
      if (exited) return Promise.reject(invalidState(`child ${pid} has exited`));
      return new Promise((resolve, reject) => waiters.push({ resolve, reject }));
    },
    resume() {
      if (ctlFd === undefined) throw invalidState(`child ${pid} has exited`);
      native.forkResume(ctlFd);
      keepAlive.ref();
    },
    kill(signal: NodeJS.Signals = 'SIGKILL') {
      if (!exited) process.kill(pid, signal);
    },
  };
}

/** Run ops in a forked child and wait for it (ops must not contain 'wait'). */
export async function runInChild(ops: readonly ForkOp[]): Promise<ForkResult> {
  if (Array.isArray(ops) && ops.some((o) => o && (o as { op?: string }).op === 'wait'))
    throw invalidArg('ops', 'wait', "has a 'wait': use forkChild() and resume() it");
  return forkChild(ops).done;
}
