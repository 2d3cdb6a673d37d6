// What a registration costs the rest of the mm: munmap or mprotect of a
// registered range against the same call on an unregistered one of the same
// size, both freshly mapped and populated, alternating, so that what differs
// is the driver's notifier (its invalidate callback, the GPU page table
// update and TLB flush, the wait for the GPU) and nothing else.
import { native } from '../../addon.js';
import { invalidArg } from '../../errors.js';
import { checkSize, PAGE_SIZE } from '../../memory/validate.js';
import { summarize, type Summary } from '../../stats/index.js';
import type { DrmRegistration } from './common.js';

export type InvalidationOp = 'munmap' | 'mprotect';

export interface InvalidationCost {
  op: InvalidationOp;
  length: number;
  runs: number;
  /** ns of the call on a registered range */
  registered: Summary;
  /** ns of the same call on an unregistered range */
  plain: Summary;
  /** registered.median / plain.median */
  ratio: number;
}

/** ns of one munmap or mprotect(PROT_READ) of the range. */
function timeOp(op: InvalidationOp, address: bigint, length: number): number {
  if (op === 'munmap') return native.timedMunmap(address, length);
  const t0 = process.hrtime.bigint();
  native.mprotect(address, length, native.mmConstants.PROT_READ);
  return Number(process.hrtime.bigint() - t0);
}

/**
 * Measures `op` on `runs` registered and `runs` plain ranges of `length`
 * bytes; `register` is the backend's registration of a range.
 */
export function measureInvalidation(
  register: (range: { address: bigint; length: number }) => DrmRegistration,
  options: { op?: InvalidationOp; length?: number; runs?: number } = {},
): InvalidationCost {
  const op = options.op ?? 'munmap';
  if (op !== 'munmap' && op !== 'mprotect') throw invalidArg('options.op', op, "must be 'munmap' or 'mprotect'");
  const length = checkSize('options.length', options.length ?? 2 * 1024 * 1024, { align: PAGE_SIZE, nonZero: true });
  const runs = options.runs ?? 9;
  if (!Number.isSafeInteger(runs) || runs < 1) throw invalidArg('options.runs', runs, 'must be a positive integer');
  const mm = native.mmConstants;
  const reg: number[] = [];
  const plain: number[] = [];
  const map = (): bigint => {
    const a = native.mmap(0, length, mm.PROT_READ | mm.PROT_WRITE, mm.MAP_PRIVATE | mm.MAP_ANONYMOUS | mm.MAP_POPULATE, -1, 0);
    native.patternFill(a, length, 0x5eedn);
    return a;
  };
  for (let i = 0; i < runs; i++) {
    const p = map();
    plain.push(timeOp(op, p, length));
    if (op === 'mprotect') native.munmap(p, length);
    const a = map();
    let r: DrmRegistration;
    try {
      r = register({ address: a, length });
    } catch (e) {
      native.munmap(a, length);
      throw e;
    }
    try {
      reg.push(timeOp(op, a, length));
    } finally {
      r.release();
      if (op === 'mprotect') native.munmap(a, length);
    }
  }
  const registered = summarize(reg);
  const base = summarize(plain);
  return { op, length, runs, registered, plain: base, ratio: registered.median / base.median };
}
