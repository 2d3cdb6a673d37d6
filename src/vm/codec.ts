// Wire format of the host<->guest channel: newline-delimited JSON. Values JSON
// cannot carry are tagged so that they arrive as they left:
//   bigint            -> { "$bigint": "123" }
//   Uint8Array/Buffer -> { "$bytes": "<base64>" }   (arrives as a Buffer)
//   undefined         -> { "$undefined": 1 }         (in arrays; dropped in objects)
// Objects that already use a "$..." key of their own are escaped as { "$obj": {...} }.
// This module runs on both sides, so it imports nothing but node:buffer.
import { Buffer } from 'node:buffer';

export type Wire = null | boolean | number | string | Wire[] | { [k: string]: Wire };

const TAGS = ['$bigint', '$bytes', '$undefined', '$obj', '$error'];

export function encode(v: unknown, depth = 0): Wire {
  if (depth > 200) throw new RangeError('mirrorlab vm codec: value nested too deeply');
  if (v === null) return null;
  switch (typeof v) {
    case 'boolean':
    case 'string':
      return v;
    case 'number':
      return Number.isFinite(v) ? v : { $number: String(v) };
    case 'bigint':
      return { $bigint: v.toString() };
    case 'undefined':
      return { $undefined: 1 };
    case 'function':
    case 'symbol':
      throw new TypeError(`mirrorlab vm codec: cannot send a ${typeof v}`);
  }
  if (v instanceof Uint8Array) {
    return { $bytes: Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64') };
  }
  if (ArrayBuffer.isView(v) || v instanceof ArrayBuffer) {
    throw new TypeError('mirrorlab vm codec: only Uint8Array/Buffer binary values are supported');
  }
  if (Array.isArray(v)) return v.map((x) => encode(x, depth + 1));
  if (v instanceof Error) {
    const e = v as Error & { code?: unknown; errno?: unknown; syscall?: unknown };
    return {
      $error: {
        name: e.name,
        message: e.message,
        stack: e.stack ?? null,
        code: encode(e.code, depth + 1),
        errno: encode(e.errno, depth + 1),
        syscall: encode(e.syscall, depth + 1),
      },
    };
  }
  if (v instanceof Map) return encode(Object.fromEntries(v), depth);
  if (v instanceof Set) return encode([...v], depth);
  if (v instanceof Date) return v.toISOString();
  const out: { [k: string]: Wire } = {};
  let tagged = false;
  for (const [k, x] of Object.entries(v as object)) {
    if (x === undefined) continue;
    if (k.startsWith('$')) tagged = true;
    out[k] = encode(x, depth + 1);
  }
  return tagged ? { $obj: out } : out;
}

export function decode(w: unknown): unknown {
  if (w === null || typeof w !== 'object') return w;
  if (Array.isArray(w)) return w.map(decode);
  const o = w as Record<string, unknown>;
  const keys = Object.keys(o);
  if (keys.length === 1 && keys[0].startsWith('$')) {
    const k = keys[0];
    const x = o[k];
    if (k === '$bigint') return BigInt(x as string);
    if (k === '$bytes') return Buffer.from(x as string, 'base64');
    if (k === '$undefined') return undefined;
    if (k === '$number') return Number(x);
    if (k === '$error') {
      const d = x as Record<string, unknown>;
      const e = new Error(String(d.message)) as Error & Record<string, unknown>;
      e.name = String(d.name);
      if (typeof d.stack === 'string') e.stack = d.stack;
      for (const f of ['code', 'errno', 'syscall']) {
        const val = decode(d[f]);
        if (val !== undefined) e[f] = val;
      }
      return e;
    }
    if (k === '$obj') {
      const out: Record<string, unknown> = {};
      for (const [kk, xx] of Object.entries(x as object)) out[kk] = decode(xx);
      return out;
    }
  }
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(o)) out[k] = decode(x);
  return out;
}

/** One message as a line (no newline inside: JSON.stringify escapes them). */
export function frame(msg: unknown): string {
  return JSON.stringify(encode(msg)) + '\n';
}

/** Splits a byte stream into lines; each complete line is passed to onLine. */
export class LineSplitter {
  private parts: Buffer[] = [];
  constructor(private readonly onLine: (line: string) => void) {}
  push(chunk: Buffer): void {
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(10, start);
      if (nl < 0) break;
      const piece = chunk.subarray(start, nl);
      const line = this.parts.length ? Buffer.concat([...this.parts, piece]) : piece;
      this.parts = [];
      this.onLine(line.toString('utf8'));
      start = nl + 1;
    }
    if (start < chunk.length) this.parts.push(Buffer.from(chunk.subarray(start)));
  }
  /** Whatever is left without a newline. */
  flush(): void {
    if (this.parts.length) {
      const rest = Buffer.concat(this.parts).toString('utf8');
      this.parts = [];
      this.onLine(rest);
    }
  }
}

export { TAGS as codecTags };

/**
 * The type a value of type T has after a trip through encode/decode: bytes
 * arrive as Buffer, Map as a plain object, Set as an array, Date as its ISO
 * string, Error as an Error (name, message, stack, code, errno, syscall);
 * undefined properties are dropped, functions cannot be sent at all.
 */
export type Delivered<T> = unknown extends T
  ? T
  : T extends Uint8Array
    ? Buffer
  : T extends null | undefined | boolean | number | string | bigint
    ? T
    : T extends Date
      ? string
      : T extends Error
        ? Error & { code?: unknown; errno?: unknown; syscall?: unknown }
        : T extends Map<infer K, infer V>
          ? Record<K & string, Delivered<V>>
          : T extends Set<infer V>
            ? Delivered<V>[]
            : T extends (...args: never[]) => unknown
              ? never
              : { [P in keyof T]: Delivered<T[P]> };
