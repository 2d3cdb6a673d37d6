// What every export needs from a results document: a suite's display name,
// the kernel it ran on, and the order-independent shape of a measurement.
import type { Results, SuiteResult } from '../results.js';

/** "guest/mirrordrm@6.12" for a guest suite, the id alone on the host (as in results.ktap). */
export const suiteName = (s: SuiteResult): string => (s.kernel ? `${s.id}@${s.kernel}` : s.id);

/** The exact kernel release a suite ran on: the guest's, or the host's own. */
export const kernelRelease = (r: Results, s: SuiteResult): string => s.guest?.release ?? r.machine.kernelRelease;

/** How the suite ran: "TCG" or "KVM" in a QEMU guest, "host" natively. */
export const accelOf = (s: SuiteResult): string => (s.guest ? s.guest.accel.toUpperCase() : 'host');

/** Parameters as one JSON object with sorted keys, e.g. {"backing":"thp","size":2097152}. */
export const paramsText = (params: Record<string, string | number | boolean>): string =>
  JSON.stringify(Object.fromEntries(Object.entries(params).sort(([a], [b]) => a.localeCompare(b))));
