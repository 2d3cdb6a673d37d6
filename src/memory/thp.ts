// Transparent huge page settings: /sys/kernel/mm/transparent_hugepage.
import fs from 'node:fs';
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
  fs.writeFileSync(path, mode);
  const putBack = () => {
    if (previous !== undefined) fs.writeFileSync(path, previous);
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
