// A SyscallError (src/errors.ts) built in TypeScript, for a status a driver
// returns in a struct field rather than as the ioctl's errno (nouveau's
// drm_nouveau_svm_bind.result), shaped as the native layer shapes its own.
import os from 'node:os';
import type { SyscallError } from '../../errors.js';

const names = new Map<number, string>(Object.entries(os.constants.errno).map(([k, v]) => [v, k]));

/** err: a positive errno value. */
export function syscallErrorOf(err: number, syscall: string, args: Record<string, number | bigint>): SyscallError {
  const code = names.get(err) ?? `E${err}`;
  const shown = Object.entries(args).map(([k, v]) => `${k}=${typeof v === 'bigint' ? `0x${v.toString(16)}` : v}`).join(', ');
  const e = new Error(`${code}: ${syscall}(${shown})`) as SyscallError;
  e.code = code;
  e.errno = -err;
  e.syscall = syscall;
  e.args = args;
  return e;
}
