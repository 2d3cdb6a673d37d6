// Kernel crash detection on the guest console. Any line matching one of these
// fails the run; the excerpt around it is attached to the error.
import type { KernelSeries } from './kernels.js';

export interface CrashPattern {
  kind: string;
  re: RegExp;
}

export const CRASH_PATTERNS: readonly CrashPattern[] = [
  { kind: 'panic', re: /Kernel panic - not syncing/ },
  { kind: 'oops', re: /\bOops\b/ },
  { kind: 'gpf', re: /general protection fault/ },
  { kind: 'kasan', re: /\bKASAN:/ },
  { kind: 'ubsan', re: /\bUBSAN:/ },
  { kind: 'list-corruption', re: /list_(add|del) corruption/ },
  { kind: 'soft-lockup', re: /soft lockup - CPU#/ },
  { kind: 'hard-lockup', re: /Watchdog detected hard LOCKUP/ },
  { kind: 'hung-task', re: /INFO: task .* blocked for more than \d+ seconds/ },
  { kind: 'rcu-stall', re: /rcu: INFO: rcu_\w+ (self-)?detected stall|rcu_sched self-detected stall|rcu_preempt self-detected stall|rcu: INFO:/ },
  { kind: 'lockdep', re: /possible circular locking dependency|inconsistent lock state|possible recursive locking detected|suspicious RCU usage|bad unlock balance detected|held lock freed/ },
  // pgd_clear_bad() and friends: a page-table entry the walker could not
  // make sense of, cleared ("mm/pgtable-generic.c:54: bad pud ...")
  { kind: 'bad-page-table', re: /:\d+: bad (pte|pmd|pud|p4d|pgd)\b/ },
  { kind: 'bad-page', re: /\bBUG: Bad (page map|page state|rss-counter)/ },
  { kind: 'bug', re: /\bBUG:|kernel BUG at / },
  { kind: 'warning', re: /\bWARNING:/ },
];

export function matchCrash(line: string): CrashPattern | undefined {
  return CRASH_PATTERNS.find((p) => p.re.test(line));
}

/** A kernel crash report seen on the guest console. */
export class VmCrashError extends Error {
  readonly kind: string;
  readonly console: string;
  readonly kernel: KernelSeries;
  constructor(kernel: KernelSeries, kind: string, excerpt: string) {
    const first = excerpt.split('\n').find((l) => matchCrash(l)) ?? kind;
    super(`guest kernel ${kernel}: ${kind}: ${first.trim()}\n--- guest console ---\n${excerpt}\n---------------------`);
    this.name = 'VmCrashError';
    this.kind = kind;
    this.console = excerpt;
    this.kernel = kernel;
  }
}

/** The guest stopped answering (or never came up) within the time allowed. */
export class VmTimeoutError extends Error {
  readonly console: string;
  constructor(message: string, consoleTail: string) {
    super(`${message}\n--- last guest console lines ---\n${consoleTail}\n--------------------------------`);
    this.name = 'VmTimeoutError';
    this.console = consoleTail;
  }
}

/** QEMU exited (or could not start) while the host still expected answers. */
export class VmExitError extends Error {
  readonly console: string;
  readonly qemuStatus: number | null;
  constructor(message: string, qemuStatus: number | null, consoleTail: string) {
    super(`${message}\n--- last guest console lines ---\n${consoleTail}\n--------------------------------`);
    this.name = 'VmExitError';
    this.console = consoleTail;
    this.qemuStatus = qemuStatus;
  }
}
