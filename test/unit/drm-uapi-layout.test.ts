// The hardware DRM backends (native/amdgpu.cc, i915.cc, xe.cc, nouveau.cc)
// define their uapi structs themselves, so that the addon builds without the
// kernel's drm headers. Here those definitions are held against the real
// headers of every kernel we ship (the guest kernels' linux-headers packages:
// 6.1, 6.12, 7.2) and the host's, if it has any: a small C program, compiled
// with cc against each header set, prints sizeof and offsetof/sizeof of each
// field and the value of each ioctl number and flag, and each must equal the
// addon's layout table and constants. A struct, field or constant the header
// set predates (xe before 6.8, CPU_ADDR_MIRROR before 6.15) is skipped for it
// with the reason printed.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { native } from '../../src/addon.js';
import type { DrmUapiLayout } from '../../src/native.js';
import { findOnPath, kernelCacheDir, KERNEL_SERIES } from '../../src/vm/kernels.js';

type Layouts = Record<string, DrmUapiLayout<string>>;

interface Driver {
  name: string;
  header: string;
  layout: Layouts;
  constants: Record<string, number>;
  /** Constants of ours that no header defines (masks we compute). */
  ours: string[];
}

const DRIVERS: Driver[] = [
  { name: 'amdgpu', header: 'amdgpu_drm.h', layout: native.amdgpu.layout as unknown as Layouts, constants: native.amdgpuConstants, ours: ['AMDGPU_GEM_USERPTR_FLAGS'] },
  { name: 'i915', header: 'i915_drm.h', layout: native.i915.layout as unknown as Layouts, constants: native.i915Constants, ours: [] },
  { name: 'xe', header: 'xe_drm.h', layout: native.xe.layout as unknown as Layouts, constants: native.xeConstants, ours: [] },
  { name: 'nouveau', header: 'nouveau_drm.h', layout: native.nouveau.layout as unknown as Layouts, constants: native.nouveauConstants, ours: [] },
];

interface HeaderSet {
  label: string;
  /** the directory holding drm.h, amdgpu_drm.h, ... */
  dir: string;
}

/** The guest kernels' uapi drm directories, then the host's (/usr/include/drm, libdrm's). */
function headerSets(): HeaderSet[] {
  const sets: HeaderSet[] = [];
  for (const series of KERNEL_SERIES) {
    const src = path.join(kernelCacheDir(series), 'headers/usr/src');
    let dirs: string[] = [];
    try {
      dirs = fs.readdirSync(src).map((d) => path.join(src, d, 'include/uapi/drm')).filter((d) => fs.existsSync(path.join(d, 'drm.h')));
    } catch {
      console.warn(`skip: kernel ${series}: no headers under ${src} (scripts/kernels.sh ${series} provides them)`);
    }
    if (dirs[0]) sets.push({ label: `${series} (${path.basename(path.dirname(path.dirname(path.dirname(dirs[0]))))})`, dir: dirs[0] });
  }
  for (const d of ['/usr/include/drm', '/usr/include/libdrm']) {
    if (fs.existsSync(path.join(d, 'drm.h'))) sets.push({ label: `host ${d}`, dir: d });
  }
  return sets;
}

/** The body of `struct name { ... };` in a header's text (nested unions included), or null. */
function structBody(text: string, name: string): string | null {
  const m = new RegExp(`struct\\s+${name}\\s*\\{`).exec(text);
  if (!m) return null;
  let depth = 1;
  let i = m.index + m[0].length;
  const start = i;
  for (; i < text.length && depth > 0; i++) {
    if (text[i] === '{') depth++;
    else if (text[i] === '}') depth--;
  }
  return text.slice(start, i - 1);
}

/** Whether a struct body declares a member named `field` (comments stripped). */
function declares(body: string, field: string): boolean {
  const code = body.replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/.*$/gm, '');
  return new RegExp(`[\\s*]${field}\\s*(\\[[^\\]]*\\])?\\s*;`).test(code);
}

interface Measured {
  structs: Record<string, { size: number; offsets: Record<string, number>; sizes: Record<string, number> }>;
  constants: Record<string, number | null>;
  skipped: string[];
}

/** Compiles and runs the probe for one driver against one header set. */
function measure(set: HeaderSet, d: Driver, work: string): Measured | { missing: string } {
  const headerPath = path.join(set.dir, d.header);
  if (!fs.existsSync(headerPath)) return { missing: `${set.label} has no ${d.header}` };
  const text = fs.readFileSync(headerPath, 'utf8');
  const skipped: string[] = [];
  const lines: string[] = [];
  const structs: Measured['structs'] = {};
  for (const [s, l] of Object.entries(d.layout)) {
    const body = structBody(text, s);
    if (body === null) {
      skipped.push(`${set.label}: struct ${s} is not in ${d.header}`);
      continue;
    }
    structs[s] = { size: -1, offsets: {}, sizes: {} };
    lines.push(`printf("S %s %zu\\n", "${s}", sizeof(struct ${s}));`);
    for (const f of Object.keys(l.offsets)) {
      if (!declares(body, f)) {
        skipped.push(`${set.label}: ${s}.${f} is not in this header`);
        continue;
      }
      // a flexible array member (size 0 in our table) has an offset only
      const size = l.sizes[f] === 0 ? '(size_t)0' : `sizeof(((struct ${s} *)0)->${f})`;
      lines.push(`printf("F %s %s %zu %zu\\n", "${s}", "${f}", offsetof(struct ${s}, ${f}), ${size});`);
    }
  }
  for (const c of Object.keys(d.constants)) {
    if (d.ours.includes(c)) continue;
    lines.push(`#ifdef ${c}\nprintf("C %s %llu\\n", "${c}", (unsigned long long)(${c}));\n#else\nprintf("U %s\\n", "${c}");\n#endif`);
  }
  const inc = path.join(work, set.label.replace(/[^\w.]+/g, '_'));
  fs.mkdirSync(inc, { recursive: true });
  if (!fs.existsSync(path.join(inc, 'drm'))) fs.symlinkSync(set.dir, path.join(inc, 'drm'));
  const src = path.join(inc, `${d.name}.c`);
  const bin = path.join(inc, d.name);
  fs.writeFileSync(src, `#include <stddef.h>\n#include <stdio.h>\n#include <drm/${d.header}>\nint main(void)\n{\n${lines.join('\n')}\nreturn 0;\n}\n`);
  // The kernel tree's include/uapi still has the __user annotations that
  // headers_install strips; linux/*.h newer than the host's (7.2's drm_mode.h
  // wants linux/bits.h) come from the set's own include/uapi, after the host's.
  execFileSync('cc', ['-std=gnu11', '-Wall', '-Werror', '-D__user=', '-I', inc, '-idirafter', path.dirname(set.dir), '-o', bin, src], { stdio: ['ignore', 'pipe', 'pipe'] });
  const constants: Measured['constants'] = {};
  for (const line of execFileSync(bin, { encoding: 'utf8' }).trim().split('\n')) {
    const w = line.split(' ');
    if (w[0] === 'S') structs[w[1]].size = Number(w[2]);
    else if (w[0] === 'F') {
      structs[w[1]].offsets[w[2]] = Number(w[3]);
      structs[w[1]].sizes[w[2]] = Number(w[4]);
    } else if (w[0] === 'C') constants[w[1]] = Number(w[2]);
    else if (w[0] === 'U') {
      constants[w[1]] = null;
      skipped.push(`${set.label}: ${w[1]} is not defined in ${d.header}`);
    }
  }
  return { structs, constants, skipped };
}

/** Every difference between the addon's table and a measured one (fields the header lacks are not differences). */
function mismatches(d: Pick<Driver, 'layout' | 'constants'>, m: Measured): string[] {
  const out: string[] = [];
  for (const [s, got] of Object.entries(m.structs)) {
    const ours = d.layout[s];
    if (ours.size !== got.size) out.push(`sizeof(struct ${s}): addon ${ours.size}, header ${got.size}`);
    for (const f of Object.keys(got.offsets)) {
      if (ours.offsets[f] !== got.offsets[f]) out.push(`offsetof(${s}, ${f}): addon ${ours.offsets[f]}, header ${got.offsets[f]}`);
      if (ours.sizes[f] !== got.sizes[f]) out.push(`sizeof(${s}.${f}): addon ${ours.sizes[f]}, header ${got.sizes[f]}`);
    }
  }
  for (const [c, v] of Object.entries(m.constants)) {
    if (v !== null && d.constants[c] !== v) out.push(`${c}: addon ${d.constants[c]}, header ${v}`);
  }
  return out;
}

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'drm-uapi-'));
afterAll(() => fs.rmSync(work, { recursive: true, force: true }));
const haveCc = findOnPath('cc') !== null;
const sets = haveCc ? headerSets() : [];

describe('DRM hardware uapi: the addon\'s structs against the kernels\' headers', () => {
  it('finds header sets to check against', (ctx) => {
    if (!haveCc) {
      console.warn('skip: no cc on PATH (scripts/setup.sh installs build-essential)');
      return ctx.skip();
    }
    if (sets.length === 0) {
      console.warn('skip: no kernel uapi headers (scripts/kernels.sh provides the guest kernels\' headers)');
      return ctx.skip();
    }
    console.log(`header sets: ${sets.map((s) => s.label).join(', ')}`);
    expect(sets.length).toBeGreaterThan(0);
  });

  it('the addon\'s tables hold every struct and field, by the kernel\'s names', () => {
    expect(Object.keys(native.amdgpu.layout)).toEqual(['drm_amdgpu_gem_userptr']);
    expect(Object.keys(native.nouveau.layout)).toEqual(['drm_nouveau_svm_init', 'drm_nouveau_svm_bind']);
    for (const d of DRIVERS) {
      for (const [s, l] of Object.entries(d.layout)) {
        expect(l.name, s).toBe(s);
        expect(Object.keys(l.sizes), s).toEqual(Object.keys(l.offsets));
        // fields inside the struct, in declaration order (a union's members share an offset)
        const offs = Object.values(l.offsets);
        expect(offs, s).toEqual([...offs].sort((a, b) => a - b));
        for (const f of Object.keys(l.offsets)) expect(l.offsets[f] + l.sizes[f], `${s}.${f}`).toBeLessThanOrEqual(l.size);
      }
    }
  });

  for (const set of sets) {
    for (const d of DRIVERS) {
      it(`${set.label}: ${d.name} structs, ioctl numbers and flags`, (ctx) => {
        const m = measure(set, d, work);
        if ('missing' in m) {
          console.warn(`skip: ${m.missing} (the driver's uapi is newer than this kernel)`);
          return ctx.skip();
        }
        for (const s of m.skipped) console.warn(`skip: ${s}`);
        expect(Object.keys(m.structs).length, 'structs found in the header').toBeGreaterThan(0);
        expect(mismatches(d, m)).toEqual([]);
      });
    }
  }

  it('a wrong offset, size or ioctl number is caught (control)', (ctx) => {
    const set = sets.find((s) => fs.existsSync(path.join(s.dir, 'amdgpu_drm.h')));
    if (!set) {
      console.warn('skip: no header set with amdgpu_drm.h');
      return ctx.skip();
    }
    const d = DRIVERS[0];
    const m = measure(set, d, work);
    if ('missing' in m) throw new Error(m.missing);
    const l = d.layout.drm_amdgpu_gem_userptr;
    const wrong = (patch: Partial<DrmUapiLayout<string>>, constants = d.constants) => ({
      layout: { drm_amdgpu_gem_userptr: { ...l, ...patch } },
      constants,
    });
    expect(mismatches(wrong({}), m)).toEqual([]);
    expect(mismatches(wrong({ offsets: { ...l.offsets, handle: 16 } }), m)).toEqual(['offsetof(drm_amdgpu_gem_userptr, handle): addon 16, header 20']);
    expect(mismatches(wrong({ sizes: { ...l.sizes, flags: 8 } }), m)).toEqual(['sizeof(drm_amdgpu_gem_userptr.flags): addon 8, header 4']);
    expect(mismatches(wrong({ size: 32 }), m)).toEqual(['sizeof(struct drm_amdgpu_gem_userptr): addon 32, header 24']);
    const badIoctl = { ...d.constants, DRM_IOCTL_AMDGPU_GEM_USERPTR: d.constants.DRM_IOCTL_AMDGPU_GEM_USERPTR + 1 };
    expect(mismatches(wrong({}, badIoctl), m)).toHaveLength(1);
  });

  it('a field the header predates is skipped, not passed as equal (control)', (ctx) => {
    const old = sets.find((s) => fs.existsSync(path.join(s.dir, 'xe_drm.h')) && !fs.readFileSync(path.join(s.dir, 'xe_drm.h'), 'utf8').includes('cpu_addr_mirror_offset'));
    if (!old) {
      console.warn('skip: no header set with an xe_drm.h older than 6.15');
      return ctx.skip();
    }
    const m = measure(old, DRIVERS[2], work);
    if ('missing' in m) throw new Error(m.missing);
    expect(m.structs.drm_xe_vm_bind_op.offsets).not.toHaveProperty('cpu_addr_mirror_offset');
    expect(m.skipped).toContain(`${old.label}: drm_xe_vm_bind_op.cpu_addr_mirror_offset is not in this header`);
    expect(m.constants.DRM_XE_VM_BIND_FLAG_CPU_ADDR_MIRROR).toBeNull();
  });
});
