// Readable numbers for the report: a unit scaled to the values it labels
// (ns -> µs -> ms -> s, bytes -> KiB -> MiB -> GiB, the same per page or per
// second), and numbers printed without exponents ("45,340,000", never
// "4.534e+7"), so an axis or a cell reads at a glance.

/** A scale for one axis or one column: value_shown = value / divisor, labelled `unit`. */
export interface UnitScale {
  /** The unit shown, e.g. 'µs/page'. */
  unit: string;
  divisor: number;
}

const TIME: [string, number][] = [['ns', 1], ['µs', 1e3], ['ms', 1e6], ['s', 1e9]];
const BYTES: [string, number][] = [['B', 1], ['KiB', 2 ** 10], ['MiB', 2 ** 20], ['GiB', 2 ** 30], ['TiB', 2 ** 40]];
const TIME_BASE: Record<string, number> = { ns: 1, us: 1e3, µs: 1e3, ms: 1e6, s: 1e9 };
const BYTES_BASE: Record<string, number> = { B: 1, bytes: 1, KiB: 2 ** 10, MiB: 2 ** 20, GiB: 2 ** 30 };

/** Split 'ns/page' into ['ns', '/page'], 'GiB/s' into ['GiB', '/s']. */
function split(unit: string): [string, string] {
  const i = unit.indexOf('/');
  return i < 0 ? [unit, ''] : [unit.slice(0, i), unit.slice(i)];
}

/**
 * The scale under which the largest |value| shows between 1 and 1000 (or as
 * near as the ladder allows). Units outside the time and byte ladders (count,
 * ratio, ...) keep their name and divisor 1.
 */
export function scaleFor(unit: string, values: Iterable<number | null | undefined>): UnitScale {
  const [head, tail] = split(unit);
  const ladder = head in TIME_BASE ? TIME : head in BYTES_BASE ? BYTES : null;
  if (!ladder) return { unit, divisor: 1 };
  const base = head in TIME_BASE ? TIME_BASE[head] : BYTES_BASE[head];
  let max = 0;
  for (const v of values) if (v !== null && v !== undefined && Number.isFinite(v)) max = Math.max(max, Math.abs(v));
  const inBase = max * base;
  let pick = ladder[0];
  for (const step of ladder) if (inBase >= step[1]) pick = step;
  return { unit: pick[0] + tail, divisor: pick[1] / base };
}

/** A number without exponent: 3 significant digits below 1000, whole numbers with thousands separators above. */
export function readable(v: number | null | undefined): string {
  if (v === null || v === undefined) return '-';
  if (!Number.isFinite(v)) return String(v);
  const abs = Math.abs(v);
  if (abs === 0) return '0';
  if (abs >= 1000) return Math.round(v).toLocaleString('en-US');
  if (abs >= 1) return String(Number(v.toPrecision(3)));
  // below 1: enough decimals for 3 significant digits, written out
  const decimals = Math.min(20, 2 - Math.floor(Math.log10(abs)));
  return v.toFixed(decimals).replace(/(\.\d*?)0+$/, '$1').replace(/\.$/, '');
}

/** One value with its unit, scaled for itself: '45.3 ms', '2 MiB', '1,024 count'. */
export function quantity(v: number | null | undefined, unit: string): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return readable(v);
  const s = scaleFor(unit, [v]);
  return `${readable(v / s.divisor)} ${s.unit}`;
}

/** Spread of round medians (hi / lo) above which a figure is marked noisy. */
export const NOISY_SPREAD = 2;

/** hi / lo of a range of positive numbers; Infinity when lo <= 0 < hi, 1 for an empty or flat one. */
export function spread(lo: number | null | undefined, hi: number | null | undefined): number {
  if (lo === null || lo === undefined || hi === null || hi === undefined || !Number.isFinite(lo) || !Number.isFinite(hi)) return 1;
  if (hi === lo) return 1;
  if (lo <= 0) return hi > 0 ? Infinity : 1;
  return hi / lo;
}

export function isNoisy(lo: number | null | undefined, hi: number | null | undefined): boolean {
  return spread(lo, hi) > NOISY_SPREAD;
}

/** Lowest and highest round median of a measurement (its warm median when it has no rounds). */
export function roundRange(m: { roundMedians: (number | null)[]; warm: { median: number | null } }): [number, number] | null {
  const v = m.roundMedians.filter((x): x is number => x !== null && Number.isFinite(x));
  if (!v.length) return m.warm.median === null ? null : [m.warm.median, m.warm.median];
  return [Math.min(...v), Math.max(...v)];
}
