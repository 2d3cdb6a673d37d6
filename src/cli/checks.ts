// Value checks shared by several commands' option specs: kernel series and
// page sizes are spelled the same everywhere (6.1, 6.12, 7.2; 4K, 2M, 1G).
import { normalizeSize } from '../bench/suites/common.js';
import { ArgumentError } from '../errors.js';
import { kernelSeries } from '../vm/kernels.js';

/** The guest clocks (src/vm/vm.ts GuestClock), spelled here so that option specs need not load the VM runner. */
export const GUEST_CLOCK_VALUES = ['icount', 'wall'] as const;

/**
 * Why guests cannot get clock icount here, or undefined: it needs TCG
 * (`accel`, else $MIRRORLAB_ACCEL), single-threaded ($MIRRORLAB_TCG_THREAD).
 * Commands check this before anything boots (exit 2); src/vm/vm.ts refuses
 * the same for library callers.
 */
export function guestClockProblem(clock: string | undefined, accel: string | undefined = process.env.MIRRORLAB_ACCEL, env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (clock !== 'icount') return undefined;
  if (accel === 'kvm') return '--guest-clock icount needs TCG: KVM runs guest instructions on the host CPU, which QEMU cannot count (accel kvm asked for)';
  if (env.MIRRORLAB_TCG_THREAD === 'multi') return '--guest-clock icount needs single-threaded TCG (MIRRORLAB_TCG_THREAD=multi is set)';
  return undefined;
}

/**
 * --guest-clock, the same for every command that boots guests: 'icount'
 * (guest time counts instructions: deterministic) or 'wall' (guest time is
 * host time: varies with host load). `extra` says the default.
 */
export function guestClockOption(extra: string) {
  return {
    type: 'string',
    values: GUEST_CLOCK_VALUES,
    arg: GUEST_CLOCK_VALUES.join('|'),
    help: `the guests' clock: icount (1 ns per guest instruction, the same every run) or wall (host time, varies with load); ${extra}`,
  } as const;
}

/** An unknown kernel series, with the known ones ("6.1, 6.12, 7.2 (sid)"). */
export function kernelProblem(name: string): string | undefined {
  try {
    kernelSeries(name);
    return undefined;
  } catch (e) {
    if (e instanceof ArgumentError) return e.message;
    throw e;
  }
}

export const SIZES = ['4K', '2M', '1G'] as const;

/** An unknown page size; other spellings of a known one (4k, 2MiB, 1GB) are fine. */
export function sizeProblem(name: string): string | undefined {
  return (SIZES as readonly string[]).includes(normalizeSize(name)) ? undefined : `unknown size ${JSON.stringify(name)} (sizes: ${SIZES.join(', ')})`;
}
