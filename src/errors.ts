// Errors raised by mirrorlab.
//
// Failed system calls come from the native layer already shaped like Node's
// system errors: { code: 'EFAULT', errno: -14, syscall: 'madvise', args: {...} }.
// Bad arguments are refused before any system call, with Node's own codes:
//   ERR_INVALID_ARG_TYPE   wrong type
//   ERR_INVALID_ARG_VALUE  a value the kernel would refuse (zero or unaligned length, unknown flag)
//   ERR_OUT_OF_RANGE       a number out of range (address + length overflows, offset past the end)
//   ERR_INVALID_STATE      the object is closed, unmapped or detached

export interface SyscallError extends Error {
  code: string;
  errno: number;
  syscall: string;
  args: Record<string, number | bigint>;
}

export function isSyscallError(e: unknown): e is SyscallError {
  return e instanceof Error && typeof (e as SyscallError).syscall === 'string';
}

type ArgErrorCode = 'ERR_INVALID_ARG_TYPE' | 'ERR_INVALID_ARG_VALUE' | 'ERR_OUT_OF_RANGE' | 'ERR_INVALID_STATE';

export class ArgumentError extends Error {
  readonly code: ArgErrorCode;
  readonly argument?: string;
  constructor(code: ArgErrorCode, message: string, argument?: string) {
    super(message);
    this.name = code === 'ERR_INVALID_ARG_TYPE' ? 'TypeError' : code === 'ERR_OUT_OF_RANGE' ? 'RangeError' : 'Error';
    this.code = code;
    this.argument = argument;
  }
}

export function invalidArg(name: string, value: unknown, why: string): ArgumentError {
  return new ArgumentError('ERR_INVALID_ARG_VALUE', `The argument '${name}' ${why}. Received ${show(value)}`, name);
}

export function outOfRange(name: string, value: unknown, range: string): ArgumentError {
  return new ArgumentError('ERR_OUT_OF_RANGE', `The value of "${name}" is out of range. It must be ${range}. Received ${show(value)}`, name);
}

export function invalidType(name: string, value: unknown, want: string): ArgumentError {
  return new ArgumentError('ERR_INVALID_ARG_TYPE', `The "${name}" argument must be ${want}. Received ${show(value)}`, name);
}

export function invalidState(message: string): ArgumentError {
  return new ArgumentError('ERR_INVALID_STATE', message);
}

function show(v: unknown): string {
  if (typeof v === 'bigint') return `0x${v.toString(16)}n`;
  if (typeof v === 'string') return `'${v}'`;
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
}
