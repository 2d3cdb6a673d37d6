// Guest-side system steps any guest test may need (called through Vm.call).
import fs from 'node:fs';

export async function kernelRelease(): Promise<string> {
  return fs.readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim();
}

/** Writes a file in the guest (used to install the C selftest binaries). */
export async function installFile(path: string, bytes: Uint8Array, mode = 0o755): Promise<number> {
  fs.writeFileSync(path, bytes, { mode });
  return bytes.byteLength;
}

/**
 * Sets khugepaged's pause between scans (ms; returns the previous value, or
 * null without THP). khugepaged collapses MADV_HUGEPAGE ranges in the
 * background; a scenario that asserts exact invalidation records or a page's
 * mapping order after a split or a swap-in must not have it collapse the range
 * in between (6.1's fork and 7.2's reclaim cases each saw a collapse once under
 * load). Writing the value also wakes the thread, which then sleeps that long.
 */
export async function khugepagedScanSleep(ms: number): Promise<number | null> {
  const f = '/sys/kernel/mm/transparent_hugepage/khugepaged/scan_sleep_millisecs';
  if (!fs.existsSync(f)) return null;
  const prev = Number(fs.readFileSync(f, 'utf8').trim());
  fs.writeFileSync(f, String(ms));
  return prev;
}
