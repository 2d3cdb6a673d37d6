// Transparent huge page settings: /sys/kernel/mm/transparent_hugepage.
import fs from 'node:fs';
import { journalSetting } from './restore-journal.js';
import { restoreOnExit } from './restore-on-exit.js';
import { invalidArg } from '../errors.js';

const ROOT = '/sys/kernel/mm/transparent_hugepage';

/** The bracketed choice of a sysfs "a [b] c" file, or undefined when unreadable. */
function bracketed(path: string): string | undefined {
  try {
    const m = /\[([^\]]+)\]/.exec(fs.readFileSync(path, 'utf8'));
    return m?.[1];
  } catch {
    return undefined;
  }
}

export interface ThpSettings {
  enabled?: string;
  defrag?: string;
  shmemEnabled?: string;
  /** per-size (mTHP) shmem setting of the PMD size, where the kernel has it ('inherit' defers to shmemEnabled) */
  shmemEnabledPmd?: string;
  anonEnabledPmd?: string;
  pmdSize?: number;
}

export function thpSettings(): ThpSettings {
  let pmdSize: number | undefined;
  try {
    pmdSize = Number(fs.readFileSync(`${ROOT}/hpage_pmd_size`, 'utf8').trim());
  } catch {
    pmdSize = undefined;
  }
  const kb = pmdSize ? pmdSize / 1024 : 2048;
  return {
    enabled: bracketed(`${ROOT}/enabled`),
    defrag: bracketed(`${ROOT}/defrag`),
    shmemEnabled: bracketed(`${ROOT}/shmem_enabled`),
    shmemEnabledPmd: bracketed(`${ROOT}/hugepages-${kb}kB/shmem_enabled`),
    anonEnabledPmd: bracketed(`${ROOT}/hugepages-${kb}kB/enabled`),
    pmdSize,
  };
}

const SHMEM_MODES = ['always', 'within_size', 'advise', 'never', 'deny', 'force'] as const;
export type ShmemThpMode = (typeof SHMEM_MODES)[number];

/**
 * Set /sys/kernel/mm/transparent_hugepage/shmem_enabled (root) for as long as
 * the returned object lives; dispose writes the previous mode back. This is a
 * machine-wide setting: keep the window short.
 */
export function setShmemThp(mode: ShmemThpMode): { previous: string | undefined; [Symbol.dispose](): void } {
  if (!SHMEM_MODES.includes(mode)) throw invalidArg('mode', mode, `must be one of ${SHMEM_MODES.join(', ')}`);
  const path = `${ROOT}/shmem_enabled`;
  const previous = bracketed(path);
  // Journaled first: a process killed inside the window still gets the mode put back by the next one.
  const unjournal = previous === undefined ? () => {} : journalSetting(path, previous);
  try {
    fs.writeFileSync(path, mode);
  } catch (e) {
    unjournal();
    throw e;
  }
  const putBack = () => {
    if (previous !== undefined) fs.writeFileSync(path, previous);
    unjournal();
  };
  const forget = restoreOnExit(putBack);
  let done = false;
  return {
    previous,
    [Symbol.dispose]() {
      if (done) return;
      done = true;
      forget();
      putBack();
    },
  };
}

/**
 * Why read faults on private anonymous memory get no shared zero page on
 * this kernel (with `huge`: no huge zero page on a THP-eligible range), or
 * null when it maps them as upstream does. Some hypervisor-guest kernels
 * take an out-of-tree boot option for this, `pvm_no_zero_page=1`: every
 * read fault then allocates a zeroed anonymous page, and pagemap shows an
 * ordinary anon page where the zero page's PFN would be.
 */
export function zeroPageOff(opts: { huge?: boolean } = {}): string | null {
  let cmdline = '';
  try {
    cmdline = fs.readFileSync('/proc/cmdline', 'utf8');
  } catch {
    /* no procfs: say nothing */
  }
  const pvm = /(?:^|\s)pvm_no_zero_page=(\S+)/.exec(cmdline);
  if (pvm && pvm[1] !== '0') return `the kernel was booted with pvm_no_zero_page=${pvm[1]}: read faults allocate zeroed pages instead of mapping the zero page`;
  if (opts.huge) {
    let use: string | undefined;
    try {
      use = fs.readFileSync(`${ROOT}/use_zero_page`, 'utf8').trim();
    } catch {
      use = undefined;
    }
    if (use === '0') return `${ROOT}/use_zero_page is 0: THP read faults allocate a huge page instead of mapping the huge zero page`;
  }
  return null;
}
