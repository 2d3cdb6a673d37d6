// ffi-rs: reach C libraries that may or may not exist at run time (libc,
// libcuda, libdrm) and make ad-hoc calls from the REPL or a script. This is
// the escape hatch for exploration; measured paths never go through it (each
// call converts its arguments in JavaScript and Rust).
import { createRequire } from 'node:module';
import os from 'node:os';
import { ArgumentError, invalidArg, invalidState } from '../errors.js';

const require = createRequire(import.meta.url);
type FfiRs = typeof import('ffi-rs');
let ffiRs: FfiRs | null = null;
let ffiLoadError: string | null = null;

function ffi(): FfiRs {
  if (ffiRs) return ffiRs;
  if (ffiLoadError === null) {
    try {
      ffiRs = require('ffi-rs') as FfiRs;
      return ffiRs;
    } catch (e) {
      ffiLoadError = (e as Error).message;
    }
  }
  throw invalidState(`ffi-rs is not available: ${ffiLoadError}`);
}

/** C types by name, for `call` and `fn`. */
export type CType = 'void' | 'i32' | 'u32' | 'i64' | 'u64' | 'bigint' | 'double' | 'float' | 'bool' | 'string' | 'pointer' | 'buffer';

function dataType(t: CType, where: string): number {
  const D = ffi().DataType;
  const map: Record<CType, number> = {
    void: D.Void, i32: D.I32, u32: D.U32, i64: D.I64, u64: D.U64, bigint: D.BigInt,
    double: D.Double, float: D.Float, bool: D.Boolean, string: D.String, pointer: D.External, buffer: D.U8Array,
  };
  const v = map[t];
  if (v === undefined) throw invalidArg(where, t, `must be one of ${Object.keys(map).join(', ')}`);
  return v;
}

const errnoNames = new Map<number, string>(Object.entries(os.constants.errno).map(([k, v]) => [v, k]));

export interface CallResult<T> {
  value: T;
  /** errno right after the call (0 when untouched). */
  errno: number;
  /** 'EBADF' etc., or '' for 0. */
  code: string;
  message: string;
}

let seq = 0;

/** A library opened with dlopen through ffi-rs. */
export class NativeLibrary {
  readonly path: string;
  private key: string | null;

  private constructor(path: string, key: string) {
    this.path = path;
    this.key = key;
  }

  /** dlopen a library by path or soname; throws Error with code ERR_DLOPEN_FAILED when absent. */
  static open(path: string): NativeLibrary {
    if (typeof path !== 'string' || path === '') throw invalidArg('path', path, 'must be a library path or soname');
    const key = `mirrorlab-ffi-${++seq}`;
    try {
      ffi().open({ library: key, path });
    } catch (e) {
      if (e instanceof ArgumentError) throw e;
      const err = new Error(`dlopen ${path}: ${(e as Error).message}`) as Error & { code: string; path: string };
      err.code = 'ERR_DLOPEN_FAILED';
      err.path = path;
      throw err;
    }
    return new NativeLibrary(path, key);
  }

  private live(): string {
    if (this.key === null) throw invalidState(`library ${this.path} is closed`);
    return this.key;
  }

  private params(func: string, ret: CType, params: CType[], args: unknown[]) {
    if (typeof func !== 'string' || !func) throw invalidArg('func', func, 'must be a symbol name');
    if (!Array.isArray(params)) throw invalidArg('params', params, 'must be an array of C type names');
    if (!Array.isArray(args) || args.length !== params.length) throw invalidArg('args', args, `must be an array of ${params.length} values`);
    return {
      library: this.live(),
      funcName: func,
      retType: dataType(ret, 'ret'),
      paramsType: params.map((p, i) => dataType(p, `params[${i}]`)),
      paramsValue: args,
    };
  }

  /** Call `func` once: call('sysconf', 'i64', ['i32'], [30]). A 'string' return is null for NULL. */
  call<T = unknown>(func: string, ret: CType, params: CType[] = [], args: unknown[] = []): T {
    if (ret === 'string') {
      // A C string return may be NULL: fetch the pointer first (null for NULL).
      const f = ffi();
      const p = f.load({ ...this.params(func, 'pointer', params, args) } as never) as unknown as import('ffi-rs').JsExternal;
      if (f.isNullPointer(p)) return null as T;
      return f.restorePointer({ retType: [f.DataType.String], paramsValue: f.wrapPointer([p]) })[0] as T;
    }
    return ffi().load(this.params(func, ret, params, args) as never) as T;
  }

  /** Call and capture errno: callWithErrno('close', 'i32', ['i32'], [-1]).code === 'EBADF'. */
  callWithErrno<T = unknown>(func: string, ret: CType, params: CType[] = [], args: unknown[] = []): CallResult<T> {
    const r = ffi().load({ ...this.params(func, ret, params, args), errno: true } as never) as unknown as { value: T; errnoCode: number; errnoMessage: string };
    return { value: r.value, errno: r.errnoCode, code: r.errnoCode ? (errnoNames.get(r.errnoCode) ?? `E${r.errnoCode}`) : '', message: r.errnoMessage };
  }

  /** A reusable function: const getpid = libc().fn('getpid', 'i32'); getpid(). */
  fn<T = unknown>(func: string, ret: CType, params: CType[] = []): (...args: unknown[]) => T {
    return (...args: unknown[]) => this.call<T>(func, ret, params, args);
  }

  close(): void {
    if (this.key === null || this === libcInstance) return;
    ffi().close(this.key);
    this.key = null;
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

let libcInstance: NativeLibrary | null = null;

/** The C library (opened once, never closed). */
export function libc(): NativeLibrary {
  libcInstance ??= NativeLibrary.open('libc.so.6');
  return libcInstance;
}

/** Sonames tried for the optional libraries mirrorlab knows about. */
export const KNOWN_LIBRARIES: Record<string, string[]> = {
  c: ['libc.so.6'],
  cuda: ['libcuda.so.1', 'libcuda.so'],
  drm: ['libdrm.so.2', 'libdrm.so'],
};

export type LibraryProbe =
  | { name: string; found: true; path: string; tried: string[]; library: NativeLibrary }
  | { name: string; found: false; tried: string[]; reason: string };

/** Try each candidate in turn; report absence with dlopen's reason instead of throwing. */
export function findLibrary(name: string, candidates: string[] = KNOWN_LIBRARIES[name] ?? [`lib${name}.so`]): LibraryProbe {
  const tried: string[] = [];
  let reason = 'no candidates';
  for (const c of candidates) {
    tried.push(c);
    try {
      return { name, found: true, path: c, tried, library: name === 'c' && c === 'libc.so.6' ? libc() : NativeLibrary.open(c) };
    } catch (e) {
      reason = (e as Error).message;
      if ((e as { code?: string }).code === 'ERR_INVALID_STATE') break;
    }
  }
  return { name, found: false, tried, reason };
}
