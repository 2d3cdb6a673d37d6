// A benchmark suite: one capability measured on one kernel (the host's, or a
// guest's). Suites register in ./suites.ts; `mirrorlab bench` runs them.
import type { RepeatOptions } from '../measure/repeat.js';
import type { Check, Comparison, Finding, Measurement, Plot, SelftestsResult, SuiteResult } from '../report/results.js';
import type { KernelSeries } from '../vm/kernels.js';
import type { GuestClock } from '../vm/vm.js';

export interface SuiteContext {
  /** Guest kernel series for guest suites, null on the host. */
  kernel: KernelSeries | null;
  quick: boolean;
  /** The clock guest suites boot their guests with (--guest-clock). */
  guestClock: GuestClock;
  /** Size filter from --size (e.g. ['4K', '2M']), empty for all. */
  sizes: string[];
  /** Repetition settings: QUICK in --quick runs. */
  repeat: RepeatOptions;
  /** Aborted on Ctrl-C: stop soon, return what was measured. */
  signal: AbortSignal;
  /** Report one finished step to the progress display. */
  step(detail: string): void;
  /** Add results as they are measured, so an interrupted suite keeps them. */
  measurement(m: Measurement): void;
  comparison(c: Comparison): void;
  check(c: Check): void;
  plot(p: Plot): void;
  /** For guest suites: the release and accelerator the guest really ran. */
  guest(info: NonNullable<SuiteResult['guest']>): void;
  /** For guest/selftests: the kernel's own selftests and their baseline comparison. */
  selftests(result: SelftestsResult): void;
  /** For guest/behaviour: how one mirror mode behaved under one event. */
  finding(f: Finding): void;
}

export interface Suite {
  id: string;
  title: string;
  environment: 'host' | 'guest';
  /** Why this suite cannot run here (e.g. "no /dev/userfaultfd"), or null when it can. */
  unsupported(kernel: KernelSeries | null): Promise<string | null>;
  /** How many steps ctx.step() will report, for the progress bar. */
  steps(ctx: Pick<SuiteContext, 'quick' | 'sizes'>): number;
  run(ctx: SuiteContext): Promise<void>;
}
