// NUMA placement: move_pages(2) and mbind(2), without libnuma.
//
//   pageNodes([a, b])                    -> { result: 0, status: [0, 1] }  (node per page)
//   movePages([a, b], [1, 1])            -> { result: 1, status: [1, -16] } (page b: EBUSY)
//   mbind({ address, length }, 'bind', [1], { move: true })
//
// status holds the node of each page, or a negative errno for that page, as
// the kernel wrote it (-EBUSY: pinned or busy, -EFAULT: not mapped, -ENOENT:
// no page, -EACCES: shared and MPOL_MF_MOVE_ALL not given), or null where the
// kernel left the entry unwritten. codes names the errors.
import os from 'node:os';
import { native } from '../addon.js';
import { invalidArg, invalidType, outOfRange } from '../errors.js';
import { PAGE_SIZE, checkAddress, checkNoOverflow, checkSize } from './validate.js';

const C = native.mmConstants;

export interface MovePagesResult {
  /** the syscall's return: 0, or how many pages it left unmigrated */
  result: number;
  /** per page: its node (>= 0), a negative errno, or null: the kernel did not write this entry */
  status: (number | null)[];
  /** per page: null for a node or an unwritten entry, else the errno name ('EBUSY') */
  codes: (string | null)[];
}

export interface MovePagesOptions {
  /** another process (default 0: this one) */
  pid?: number;
  /** MPOL_MF_MOVE_ALL: also move pages shared with other processes (needs CAP_SYS_NICE) */
  moveAll?: boolean;
}

/** what the addon fills status with before the call (INT32_MIN) */
const UNWRITTEN = -0x8000_0000;

const errnoNames: Record<number, string> = Object.fromEntries(
  Object.entries(os.constants.errno).map(([k, v]) => [v as number, k]),
);

function addresses(name: string, pages: readonly bigint[]): BigUint64Array {
  if (!Array.isArray(pages) || pages.length === 0) throw invalidType(name, pages, 'a non-empty array of page addresses');
  const out = new BigUint64Array(pages.length);
  pages.forEach((p, i) => (out[i] = checkAddress(`${name}[${i}]`, p, PAGE_SIZE)));
  return out;
}

function nodeNumber(name: string, n: unknown): number {
  if (!Number.isInteger(n)) throw invalidType(name, n, 'a node number');
  if ((n as number) < 0 || (n as number) > 63) throw outOfRange(name, n, '>= 0 and <= 63');
  return n as number;
}

function checkPid(pid: unknown): number {
  if (pid === undefined) return 0;
  if (!Number.isInteger(pid) || (pid as number) < 0) throw invalidArg('options.pid', pid, 'must be a process id (0: this process)');
  return pid as number;
}

function shape(r: { result: number; status: Int32Array }): MovePagesResult {
  const status = Array.from(r.status, (s) => (s === UNWRITTEN ? null : s));
  return { result: r.result, status, codes: status.map((s) => (s === null || s >= 0 ? null : (errnoNames[-s] ?? `errno ${-s}`))) };
}

/** Where each page is: move_pages(pid, n, pages, NULL, status, 0). */
export function pageNodes(pages: readonly bigint[], options: MovePagesOptions = {}): MovePagesResult {
  const a = addresses('pages', pages);
  return shape(native.movePages(checkPid(options.pid), a, null, 0));
}

/** Move each page to its node: move_pages(pid, n, pages, nodes, status, MPOL_MF_MOVE[_ALL]). */
export function movePages(pages: readonly bigint[], nodes: readonly number[], options: MovePagesOptions = {}): MovePagesResult {
  const a = addresses('pages', pages);
  if (!Array.isArray(nodes) || nodes.length !== a.length) throw invalidArg('nodes', nodes, `must be an array with one node per page (${a.length})`);
  const n = Int32Array.from(nodes, (x, i) => nodeNumber(`nodes[${i}]`, x));
  const pid = checkPid(options.pid);
  return shape(native.movePages(pid, a, n, options.moveAll ? C.MPOL_MF_MOVE_ALL : C.MPOL_MF_MOVE));
}

export type MemPolicy = 'default' | 'preferred' | 'bind' | 'interleave' | 'local';

const POLICY: Record<MemPolicy, number> = {
  default: C.MPOL_DEFAULT,
  preferred: C.MPOL_PREFERRED,
  bind: C.MPOL_BIND,
  interleave: C.MPOL_INTERLEAVE,
  local: C.MPOL_LOCAL,
};

export interface MbindOptions {
  /** MPOL_MF_STRICT: fail with EIO when pages do not follow the policy (after moving, if asked) */
  strict?: boolean;
  /** MPOL_MF_MOVE: move the range's pages that this process alone maps */
  move?: boolean;
  /** MPOL_MF_MOVE_ALL: move shared pages too (CAP_SYS_NICE) */
  moveAll?: boolean;
}

/** mbind(address, length, mode, nodemask, maxnode, flags) over a page-aligned range. */
export function mbind(range: { address: bigint; length: number }, policy: MemPolicy, nodes: readonly number[] = [], options: MbindOptions = {}): void {
  if (range === null || typeof range !== 'object') throw invalidType('range', range, 'an { address, length } object');
  const address = checkAddress('range.address', range.address, PAGE_SIZE);
  const length = checkSize('range.length', range.length, { nonZero: true, align: PAGE_SIZE });
  checkNoOverflow(address, length, 'range.length');
  if (!Object.hasOwn(POLICY, policy)) throw invalidArg('policy', policy, `must be one of ${Object.keys(POLICY).join(', ')}`);
  if (!Array.isArray(nodes)) throw invalidType('nodes', nodes, 'an array of node numbers');
  let mask = 0n;
  nodes.forEach((n, i) => (mask |= 1n << BigInt(nodeNumber(`nodes[${i}]`, n))));
  if ((policy === 'default' || policy === 'local') && mask !== 0n) throw invalidArg('nodes', nodes, `must be empty for '${policy}'`);
  if ((policy === 'bind' || policy === 'interleave') && mask === 0n) throw invalidArg('nodes', nodes, `must name a node for '${policy}'`);
  const flags = (options.strict ? C.MPOL_MF_STRICT : 0) | (options.move ? C.MPOL_MF_MOVE : 0) | (options.moveAll ? C.MPOL_MF_MOVE_ALL : 0);
  native.mbind(address, length, POLICY[policy], mask, flags);
}
