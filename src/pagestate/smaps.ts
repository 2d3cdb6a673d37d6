// /proc/<pid>/smaps: per-VMA memory accounting.
import fs from 'node:fs';
import { invalidArg, invalidType } from '../errors.js';
import { checkAddress, checkSize } from '../memory/validate.js';

export interface SmapsVma {
  start: bigint;
  end: bigint;
  perms: string;
  offset: bigint;
  dev: string;
  inode: number;
  path: string;
  /** every "Name: N kB" line, in kB as the kernel prints them (Rss, Pss, AnonHugePages, ShmemPmdMapped, FilePmdMapped, Swap, ...) */
  kB: Record<string, number>;
  /** THPeligible: 1 when the VMA may get THPs */
  thpEligible?: number;
  /** VmFlags mnemonics (rd wr mr mw me ac hg nh ...) */
  vmFlags: string[];
  /** other "Name: value" lines that are not in kB */
  other: Record<string, string>;
}

const HEADER = /^([0-9a-f]+)-([0-9a-f]+) (\S+) ([0-9a-f]+) (\S+) (\d+)\s*(.*)$/;

export function parseSmaps(text: string): SmapsVma[] {
  const out: SmapsVma[] = [];
  let cur: SmapsVma | undefined;
  for (const line of text.split('\n')) {
    const h = HEADER.exec(line);
    if (h) {
      cur = {
        start: BigInt('0x' + h[1]), end: BigInt('0x' + h[2]), perms: h[3], offset: BigInt('0x' + h[4]),
        dev: h[5], inode: Number(h[6]), path: h[7], kB: {}, vmFlags: [], other: {},
      };
      out.push(cur);
      continue;
    }
    if (!cur) continue;
    const c = line.indexOf(':');
    if (c < 0) continue;
    const name = line.slice(0, c);
    const value = line.slice(c + 1).trim();
    if (name === 'VmFlags') cur.vmFlags = value.split(/\s+/).filter(Boolean);
    else if (name === 'THPeligible') cur.thpEligible = Number(value);
    else {
      const m = /^(\d+) kB$/.exec(value);
      if (m) cur.kB[name] = Number(m[1]);
      else cur.other[name] = value;
    }
  }
  return out;
}

// [start, end) of a { address, length } (a Mapping's getters work even once
// it is unmapped: these only read /proc), and a pid that names a process.
function bounds(range: { address: bigint; length: number }, pid: unknown): { start: bigint; end: bigint } {
  if (range === null || typeof range !== 'object') throw invalidType('range', range, 'an object with address and length');
  const start = checkAddress('range.address', range.address);
  const length = checkSize('range.length', range.length);
  if (pid !== 'self' && !(Number.isSafeInteger(pid) && (pid as number) > 0)) throw invalidArg('pid', pid, "must be 'self' or a process id");
  return { start, end: start + BigInt(length) };
}

/** VMAs of this process (or pid) that overlap [address, address + length). */
export function smapsFor(range: { address: bigint; length: number }, pid: number | 'self' = 'self'): SmapsVma[] {
  const { start, end } = bounds(range, pid);
  const all = parseSmaps(fs.readFileSync(`/proc/${pid}/smaps`, 'utf8'));
  return all.filter((v) => v.start < end && v.end > start);
}

/** Is anything of [address, address + length) still mapped in this process (/proc/self/maps)? */
export function isMapped(range: { address: bigint; length: number }, pid: number | 'self' = 'self'): boolean {
  const { start, end } = bounds(range, pid);
  for (const line of fs.readFileSync(`/proc/${pid}/maps`, 'utf8').split('\n')) {
    const m = /^([0-9a-f]+)-([0-9a-f]+) /.exec(line);
    if (m && BigInt('0x' + m[1]) < end && BigInt('0x' + m[2]) > start) return true;
  }
  return false;
}
