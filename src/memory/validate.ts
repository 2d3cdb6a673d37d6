// Argument checks shared by the memory area. Every check runs before a system call.
import { invalidArg, invalidType, outOfRange } from '../errors.js';
import { native } from '../addon.js';

export const PAGE_SIZE = native.mmConstants.PAGE_SIZE;
export const HPAGE_PMD_SIZE = 2 * 1024 * 1024;
export const HPAGE_PUD_SIZE = 1024 * 1024 * 1024;
const U64_MAX = (1n << 64n) - 1n;

/** A non-negative safe integer (a byte count or offset). */
export function checkSize(name: string, v: unknown, opts: { align?: number; nonZero?: boolean } = {}): number {
  if (typeof v === 'bigint') {
    if (v < 0n || v > BigInt(Number.MAX_SAFE_INTEGER)) throw outOfRange(name, v, `>= 0 and <= ${Number.MAX_SAFE_INTEGER}`);
    v = Number(v);
  }
  if (typeof v !== 'number') throw invalidType(name, v, 'of type number or bigint');
  if (!Number.isInteger(v)) throw invalidArg(name, v, 'must be an integer');
  if (v < 0 || v > Number.MAX_SAFE_INTEGER) throw outOfRange(name, v, `>= 0 and <= ${Number.MAX_SAFE_INTEGER}`);
  if (opts.nonZero && v === 0) throw invalidArg(name, v, 'must not be zero');
  const align = opts.align ?? 0;
  if (align && v % align !== 0) throw invalidArg(name, v, `must be a multiple of ${align} bytes`);
  return v;
}

/** An address (bigint or safe-integer number), optionally aligned. */
export function checkAddress(name: string, v: unknown, align = 0): bigint {
  let a: bigint;
  if (typeof v === 'bigint') a = v;
  else if (typeof v === 'number' && Number.isSafeInteger(v)) a = BigInt(v);
  else if (typeof v === 'number') throw invalidArg(name, v, 'must be a safe integer (use a bigint)');
  else throw invalidType(name, v, 'of type bigint or number');
  if (a < 0n || a > U64_MAX) throw outOfRange(name, v, 'within the 64-bit address space');
  if (align && a % BigInt(align) !== 0n) throw invalidArg(name, v, `must be aligned to ${align} bytes`);
  return a;
}

/** address + length must not wrap around the address space. */
export function checkNoOverflow(address: bigint, length: number, name = 'length'): void {
  if (address + BigInt(length) > U64_MAX + 1n)
    throw outOfRange(name, length, `such that address 0x${address.toString(16)} + length does not overflow`);
}

/**
 * offset/length within [0, total): offset and length must be page aligned,
 * length defaults to the rest, offset + length must not pass the end.
 */
export function checkSubrange(total: number, offset: unknown, length: unknown, align = PAGE_SIZE): { offset: number; length: number } {
  const off = offset === undefined ? 0 : checkSize('offset', offset, { align });
  if (off > total) throw outOfRange('offset', off, `<= the mapping length (${total})`);
  const len = length === undefined ? total - off : checkSize('length', length, { align, nonZero: true });
  if (len === 0) throw invalidArg('length', len, 'must not be zero (offset is at the end of the mapping)');
  if (off + len > total) throw outOfRange('length', len, `<= ${total - off} (offset ${off} + length must stay within the mapping of ${total} bytes)`);
  return { offset: off, length: len };
}

export function checkOptions(name: string, v: unknown, known: readonly string[]): Record<string, unknown> {
  if (v === undefined) return {};
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw invalidType(name, v, 'an object');
  for (const k of Object.keys(v)) {
    if (!known.includes(k)) throw invalidArg(`${name}.${k}`, (v as Record<string, unknown>)[k], `is not a known option (known: ${known.join(', ')})`);
  }
  return v as Record<string, unknown>;
}

export function checkBool(name: string, v: unknown): boolean | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'boolean') throw invalidType(name, v, 'of type boolean');
  return v;
}
