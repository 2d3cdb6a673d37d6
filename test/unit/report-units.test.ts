// Readable units for report.html (src/report/units.ts) and the outcome rule of
// the behaviour matrix (src/bench/suites/guest-behaviour.ts judgeByte).
import { describe, expect, it } from 'vitest';
import { isNoisy, quantity, readable, roundRange, scaleFor, spread } from '../../src/report/units.js';
import { findingRecords, firstByte, judgeByte } from '../../src/bench/suites/guest-behaviour.js';

describe('scaleFor', () => {
  it('scales time units so the largest value shows between 1 and 1000, keeping a per-unit tail', () => {
    expect(scaleFor('ns', [45_340_000])).toEqual({ unit: 'ms', divisor: 1e6 });
    expect(scaleFor('ns', [999])).toEqual({ unit: 'ns', divisor: 1 });
    expect(scaleFor('ns', [1000, 3])).toEqual({ unit: 'µs', divisor: 1e3 });
    expect(scaleFor('ns/page', [12_500])).toEqual({ unit: 'µs/page', divisor: 1e3 });
    expect(scaleFor('ms', [0.5])).toEqual({ unit: 'µs', divisor: 1e-3 });
    expect(scaleFor('ms', [2500])).toEqual({ unit: 's', divisor: 1e3 });
    expect(scaleFor('us', [1500])).toEqual({ unit: 'ms', divisor: 1e3 });
  });
  it('scales bytes by powers of 1024, throughput too', () => {
    expect(scaleFor('B', [2 * 1024 * 1024])).toEqual({ unit: 'MiB', divisor: 2 ** 20 });
    expect(scaleFor('bytes', [512])).toEqual({ unit: 'B', divisor: 1 });
    expect(scaleFor('GiB/s', [0.25])).toEqual({ unit: 'MiB/s', divisor: 2 ** -10 });
    expect(scaleFor('GiB/s', [3.5])).toEqual({ unit: 'GiB/s', divisor: 1 });
  });
  it('leaves other units alone, and ignores nulls', () => {
    expect(scaleFor('count', [262_144])).toEqual({ unit: 'count', divisor: 1 });
    expect(scaleFor('ns', [null, undefined, 2e9])).toEqual({ unit: 's', divisor: 1e9 });
    expect(scaleFor('ns', [])).toEqual({ unit: 'ns', divisor: 1 });
  });
});

describe('readable numbers', () => {
  it('never writes an exponent', () => {
    expect(readable(45_340_000)).toBe('45,340,000');
    expect(readable(4.534e7)).not.toMatch(/e/);
    expect(readable(123.456)).toBe('123');
    expect(readable(1.23456)).toBe('1.23');
    expect(readable(0.000123456)).toBe('0.000123');
    expect(readable(0.5)).toBe('0.5');
    expect(readable(1e-9)).toBe('0.000000001');
    expect(readable(0)).toBe('0');
    expect(readable(null)).toBe('-');
  });
  it('quantity scales one value for itself', () => {
    expect(quantity(45_340_000, 'ns')).toBe('45.3 ms');
    expect(quantity(2 * 2 ** 20, 'B')).toBe('2 MiB');
    expect(quantity(4096, 'B')).toBe('4 KiB');
    expect(quantity(262_144, 'count')).toBe('262,144 count');
  });
});

describe('spread and noise', () => {
  it('hi/lo, infinite across zero, noisy above 2x', () => {
    expect(spread(2, 5)).toBe(2.5);
    expect(spread(0, 5)).toBe(Infinity);
    expect(spread(3, 3)).toBe(1);
    expect(isNoisy(1, 2)).toBe(false);
    expect(isNoisy(1, 2.01)).toBe(true);
    expect(isNoisy(0.1, 12)).toBe(true);
  });
  it('roundRange is the lowest and highest round median', () => {
    expect(roundRange({ roundMedians: [5, 3, 9], warm: { median: 5 } })).toEqual([3, 9]);
    expect(roundRange({ roundMedians: [], warm: { median: 7 } })).toEqual([7, 7]);
  });
});

describe('behaviour outcome from what the device read against what the CPU sees', () => {
  it('coherent when the bytes agree, stale when they differ', () => {
    expect(judgeByte({ ok: true, value: 0x22 }, 0x22)).toEqual({ outcome: 'coherent', detail: 'device read 0x22, the CPU reads 0x22' });
    expect(judgeByte({ ok: true, value: 0x11 }, 0x22)).toEqual({ outcome: 'stale', detail: 'device read 0x11, the CPU reads 0x22' });
  });
  it('stale when the device reads a page the CPU no longer maps; error when the access failed', () => {
    expect(judgeByte({ ok: true, value: 1 }, null)).toEqual({ outcome: 'stale', detail: 'device read 0x01 from a page the CPU no longer maps' });
    expect(judgeByte({ ok: false, code: 'EFAULT', errno: 14 }, null)).toEqual({ outcome: 'error', detail: 'device access failed with EFAULT; the CPU no longer maps the page' });
    expect(judgeByte({ ok: false, code: 'EPERM', errno: 1 }, 2)).toEqual({ outcome: 'error', detail: 'device access failed with EPERM; the CPU reads 0x02' });
  });
  it('firstByte and findingRecords keep what the matrix shows', () => {
    expect(firstByte({ ok: true, value: [7, 8] })).toEqual({ ok: true, value: 7 });
    expect(firstByte({ ok: false, code: 'EFAULT', errno: 14 })).toEqual({ ok: false, code: 'EFAULT', errno: 14 });
    expect(findingRecords([{ event: 'UNMAP', relStart: 4096, relEnd: 8192, blockable: true }])).toEqual([{ event: 'UNMAP', start: 4096, end: 8192, blockable: true }]);
  });
});
