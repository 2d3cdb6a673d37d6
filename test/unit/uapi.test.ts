// The uapi values TypeScript uses come from the addon, which is compiled
// against kernel-patches/include/uapi/{mirrordrm,fakevram}.h. Here the
// headers' text is parsed independently (#defines evaluated, struct layouts
// computed with natural alignment) and compared with what the addon reports,
// so a header change that the addon or the decoders miss fails on the host.
import { describe, expect, it } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { native } from '../../src/addon.js';
import { ENTRY_SIZES } from '../../src/devmem/fakevram.js';
import { MIRRORDRM, MIRRORDRM_LAYOUT, MIRRORDRM_UAPI, ALL_MIRROR_MODES, MODE_FLAGS, decodeCounters, decodePages, decodeRecords } from '../../src/mirror/index.js';

const UAPI = path.resolve(__dirname, '../../kernel-patches/include/uapi');

interface Header {
  defines: Map<string, bigint>;
  structs: Map<string, { sizeof: number; fields: Record<string, number> }>;
}

const TYPE_SIZE: Record<string, number> = { __u8: 1, __u16: 2, __u32: 4, __u64: 8 };

/** #defines with a value (evaluated as BigInt, _IO* ioctl numbers included) and the structs' layouts. */
function parseHeader(file: string): Header {
  const text = fs.readFileSync(path.join(UAPI, file), 'utf8').replace(/\/\*[\s\S]*?\*\//g, '').replace(/\\\n/g, ' ');
  // #defines are evaluated on first use: struct array sizes name them, ioctl numbers name structs
  const raw = new Map([...text.matchAll(/^#define\s+(\w+)[ \t]+(.+)$/gm)].map((m) => [m[1], m[2].trim()]));
  const defines: Header['defines'] = new Map();
  const structs: Header['structs'] = new Map();
  const define = (name: string): bigint => {
    if (!defines.has(name)) defines.set(name, value(raw.get(name)!));
    return defines.get(name)!;
  };
  // _IOC(dir, type, nr, size): the asm-generic encoding x86 uses
  const IOC = (dir: bigint, type: bigint, nr: bigint, size: bigint) => (dir << 30n) | (size << 16n) | (type << 8n) | nr;
  function value(expr: string): bigint {
    const js = expr
      .replace(/'(.)'/g, (_, c: string) => `${c.charCodeAt(0)}n`)
      .replace(/\b(0x[0-9a-fA-F]+|\d+)(?:u|ull|ul)?\b/g, '$1n')
      .replace(/\bstruct\s+(\w+)/g, (_, s: string) => `${structs.get(s)!.sizeof}n`)
      .replace(/\b_IO(WR|R|W)\(/g, (_, d: string) => `IOC(${d === 'WR' ? 3 : d === 'R' ? 2 : 1}n, `)
      .replace(/\b([A-Z_][A-Z0-9_]*)\b/g, (name: string) => (raw.has(name) ? `${define(name)}n` : name));
    return new Function('IOC', `return (${js});`)(IOC) as bigint;
  }
  for (const m of text.matchAll(/struct\s+(\w+)\s*\{([^}]*)\};/g)) {
    let off = 0;
    let align = 1;
    const fields: Record<string, number> = {};
    for (const f of m[2].matchAll(/(__u\d+)\s+(\w+)(?:\[(\w+)\])?;/g)) {
      const size = TYPE_SIZE[f[1]];
      off = Math.ceil(off / size) * size;
      fields[f[2]] = off;
      off += size * (f[3] ? Number(value(f[3])) : 1);
      align = Math.max(align, size);
    }
    structs.set(m[1], { sizeof: Math.ceil(off / align) * align, fields });
  }
  for (const name of raw.keys()) define(name);
  return { defines, structs };
}

describe('uapi: the addon against the headers', () => {
  const mirrordrm = parseHeader('mirrordrm.h');
  const fakevram = parseHeader('fakevram.h');

  it('the parser finds the headers\' values (sanity)', () => {
    expect(mirrordrm.defines.get('MIRRORDRM_USERPTR_MODE_HMM')).toBe(4n);
    expect(mirrordrm.defines.get('MIRRORDRM_USERPTR_MAX_SIZE')).toBe(1n << 32n);
    expect(mirrordrm.structs.get('drm_mirrordrm_inval_record')?.sizeof).toBe(88);
    expect(fakevram.defines.get('FAKEVRAM_POLICY_FLAGS')).toBe(3n);
  });

  it('every mirrordrm #define is exported by the addon with the header\'s value', () => {
    expect(mirrordrm.defines.size).toBeGreaterThan(40);
    for (const [name, v] of mirrordrm.defines) expect((MIRRORDRM_UAPI as Record<string, number>)[name], name).toBe(Number(v));
  });

  it('every mirrordrm struct has the header\'s size and field offsets in the addon\'s layout', () => {
    expect(Object.keys(MIRRORDRM_LAYOUT).sort()).toEqual([...mirrordrm.structs.keys()].sort());
    for (const [name, s] of mirrordrm.structs) expect((MIRRORDRM_LAYOUT as Record<string, unknown>)[name], name).toEqual({ sizeof: s.sizeof, ...s.fields });
  });

  it('every fakevram #define is exported by the addon (without the FAKEVRAM_ prefix) with the header\'s value', () => {
    const c: Record<string, number> = native.fakevramConstants;
    expect(fakevram.defines.size).toBeGreaterThan(20);
    for (const [name, v] of fakevram.defines) expect(c[name.replace(/^FAKEVRAM_/, '')], name).toBe(Number(v));
    for (const [name, s] of fakevram.structs) expect(c[`SIZEOF_${name.replace(/^fakevram_/, '').toUpperCase()}`], name).toBe(s.sizeof);
  });

  it('TypeScript\'s lists follow the headers: mirror modes, entry sizes', () => {
    expect(Object.keys(MODE_FLAGS)).toEqual([...ALL_MIRROR_MODES]);
    for (const m of ALL_MIRROR_MODES) expect(MODE_FLAGS[m], m).toBe(Number(mirrordrm.defines.get(`MIRRORDRM_USERPTR_MODE_${m.toUpperCase().replace(/-/g, '_')}`)));
    ENTRY_SIZES.forEach((e, i) => expect(Number(fakevram.defines.get(`FAKEVRAM_ENTRY_${e.toUpperCase()}`)), e).toBe(i));
    expect(ENTRY_SIZES).toHaveLength(Number(fakevram.defines.get('FAKEVRAM_NR_ENTRY_SIZES')));
  });

  it('the decoders read each field at the header\'s offset', () => {
    const rec = mirrordrm.structs.get('drm_mirrordrm_inval_record')!;
    const b = new Uint8Array(rec.sizeof);
    const dv = new DataView(b.buffer);
    dv.setBigUint64(rec.fields.seq, 11n, true);
    dv.setBigUint64(rec.fields.start, 0x1000n, true);
    dv.setBigUint64(rec.fields.end, 0x3000n, true);
    dv.setBigUint64(rec.fields.duration_ns, 77n, true);
    dv.setBigUint64(rec.fields.pages_downgraded, 5n, true);
    dv.setUint32(rec.fields.handle, 9, true);
    dv.setUint32(rec.fields.event, Number(mirrordrm.defines.get('MIRRORDRM_EVENT_SOFT_DIRTY')), true);
    dv.setUint32(rec.fields.flags, Number(mirrordrm.defines.get('MIRRORDRM_RECORD_DOWNGRADED')), true);
    dv.setUint32(rec.fields.pid, 1234, true);
    expect(decodeRecords(b)[0]).toMatchObject({ seq: 11n, start: 0x1000n, end: 0x3000n, durationNs: 77, pagesDowngraded: 5, handle: 9, event: 'SOFT_DIRTY', downgraded: true, blockable: false, pid: 1234 });

    const page = mirrordrm.structs.get('drm_mirrordrm_page')!;
    const p = new Uint8Array(page.sizeof);
    const pv = new DataView(p.buffer);
    pv.setBigUint64(page.fields.cpu_pfn, 0x42n, true);
    pv.setUint32(page.fields.cpu_flags, Number(mirrordrm.defines.get('MIRRORDRM_PAGE_VALID')!) | (9 << Number(mirrordrm.defines.get('MIRRORDRM_PAGE_ORDER_SHIFT'))), true);
    pv.setUint32(page.fields.dev_flags, Number(mirrordrm.defines.get('MIRRORDRM_PAGE_STALE')), true);
    expect(decodePages(p, 3)[0]).toMatchObject({ index: 3, cpu: { pfn: 0x42n, valid: true, order: 9 }, device: { stale: true, valid: false } });

    const cnt = mirrordrm.structs.get('drm_mirrordrm_counters')!;
    const c = new Uint8Array(cnt.sizeof);
    const cv = new DataView(c.buffer);
    cv.setBigInt64(cnt.fields.hmm_range_fault_ebusy, 6n, true);
    cv.setBigInt64(cnt.fields.log_lost, 2n, true);
    cv.setBigInt64(cnt.fields.by_event + 8 * Number(mirrordrm.defines.get('MIRRORDRM_EVENT_MIGRATE')), 3n, true);
    cv.setBigInt64(cnt.fields.by_event + 8 * Number(mirrordrm.defines.get('MIRRORDRM_EVENT_UNKNOWN')), 1n, true);
    expect(decodeCounters(c)).toMatchObject({ hmmRangeFaultEbusy: 6, logLost: 2, byEvent: { MIGRATE: 3, UNKNOWN: 1, UNMAP: 0 } });
    expect(MIRRORDRM.SIZEOF_RECORD).toBe(rec.sizeof);
  });

  it('two-pass: the USERPTR flag and the record flags decode from the header\'s bits', () => {
    const d = (n: string): number => Number(mirrordrm.defines.get(n));
    expect(MIRRORDRM.TWO_PASS).toBe(d('MIRRORDRM_USERPTR_TWO_PASS'));
    expect(d('MIRRORDRM_USERPTR_FLAGS') & d('MIRRORDRM_USERPTR_TWO_PASS')).toBe(d('MIRRORDRM_USERPTR_TWO_PASS'));
    const rec = mirrordrm.structs.get('drm_mirrordrm_inval_record')!;
    const b = new Uint8Array(3 * rec.sizeof);
    const dv = new DataView(b.buffer);
    const flags = [d('MIRRORDRM_RECORD_TWO_PASS'), d('MIRRORDRM_RECORD_TWO_PASS') | d('MIRRORDRM_RECORD_FINISH_FALLBACK'), d('MIRRORDRM_RECORD_FENCE_WAIT')];
    flags.forEach((f, i) => {
      dv.setUint32(i * rec.sizeof + rec.fields.flags, f, true);
      dv.setBigUint64(i * rec.sizeof + rec.fields.finish_ns, BigInt(1000 * i), true);
    });
    const r = decodeRecords(b);
    expect(r.map((x) => [x.twoPass, x.finishFallback, x.fenceWait, x.finishNs])).toEqual([
      [true, false, false, 0],
      [true, true, false, 1000],
      [false, false, true, 2000],
    ]);
  });
});
