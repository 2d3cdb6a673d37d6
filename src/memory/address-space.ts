// Checks that an address range belongs to this process before native code
// touches it. A native load or store on a hole, a PROT_NONE page or (for a
// store) a read-only page raises SIGSEGV, which ends the process; these checks
// turn such calls into errors instead.
//   - Kernel addresses (from 0x0000800000000000 up on x86-64 with 4-level
//     page tables, and on arm64 with 48-bit VAs) and the NULL page are refused
//     as arguments.
//   - Holes: mincore(2) answers ENOMEM for any page no VMA covers, with no
//     side effect on the range (native checkMapped, args.hole = the first such page).
//   - Protections, only where this process itself loads or stores from the
//     JavaScript thread: /proc/self/maps.
import fs from 'node:fs';
import { native } from '../addon.js';
import { invalidArg, outOfRange } from '../errors.js';

/** First address above the user half of the address space (x86-64 4-level paging, arm64 48-bit VA). */
export const USER_ADDRESS_END = 0x0000_8000_0000_0000n;

/** The range must lie in user space and above the NULL page. */
export function checkUserRange(name: string, address: bigint, length: number): void {
  if (address === 0n) throw invalidArg(name, address, 'must not be NULL');
  if (address >= USER_ADDRESS_END || address + BigInt(length) > USER_ADDRESS_END)
    throw outOfRange(name, address, `a user-space range (below 0x${USER_ADDRESS_END.toString(16)}; kernel addresses are refused)`);
}

/** Throws the mincore(2) ENOMEM error (with args.hole) when part of the range is not mapped. */
export function checkMapped(name: string, address: bigint, length: number): void {
  checkUserRange(name, address, length);
  native.checkMapped(address, length);
}

interface Vma {
  start: bigint;
  end: bigint;
  perms: string;
}

function readMaps(): Vma[] {
  const out: Vma[] = [];
  for (const line of fs.readFileSync('/proc/self/maps', 'latin1').split('\n')) {
    const m = /^([0-9a-f]+)-([0-9a-f]+) (\S{4})/.exec(line);
    if (m) out.push({ start: BigInt(`0x${m[1]}`), end: BigInt(`0x${m[2]}`), perms: m[3] });
  }
  return out;
}

/**
 * The range must be mapped and readable (access 'read') or writable ('write')
 * throughout: the check for code that loads or stores on this thread.
 */
export function checkAccessible(name: string, address: bigint, length: number, access: 'read' | 'write'): void {
  checkMapped(name, address, length);
  const want = access === 'write' ? 'w' : 'r';
  const end = address + BigInt(length);
  for (const v of readMaps()) {
    if (v.end <= address || v.start >= end) continue;
    if (!v.perms.includes(want)) {
      throw invalidArg(name, address,
        `must be ${access === 'write' ? 'writable' : 'readable'} throughout: 0x${v.start.toString(16)}-0x${v.end.toString(16)} is mapped ${v.perms}`);
    }
  }
}
