// The LAVA pieces that need no dispatcher: the YAML writer (read back by
// Python's yaml, as LAVA reads it), the job and device definitions, the log
// reader on real lava-run records, the case lines and names, and the
// command's option parsing.
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { STANDALONE_SUITES, formatCaseLine, lavaCaseName, parseCaseLines } from '../../src/guest/standalone-suites.js';
import { parseLavaArgs } from '../../src/lava/cli.js';
import { lavaCmdline, lavaJob, lavaQemuDevice } from '../../src/lava/job.js';
import { lavaTargetText, lavaTestCases, parseLavaLog, parseLavaLogLine } from '../../src/lava/log.js';
import { toYaml } from '../../src/lava/yaml.js';
import { KNOWN_KERNELS, kernelSeries } from '../../src/vm/kernels.js';
import { INIT_START_MESSAGE, SHELL_PROMPT } from '../../src/vm/initramfs.js';

/** Debian's python3, where python3-yaml and lava-dispatcher's lava_common live (not a pyenv or venv one). */
const PYTHON = '/usr/bin/python3';

/** YAML read back by PyYAML (what lava-run uses), as JSON; null where python3-yaml is missing. */
function pyYaml(text: string): unknown {
  const r = spawnSync(PYTHON, ['-c', 'import sys, json, yaml; json.dump(yaml.safe_load(sys.stdin), sys.stdout)'], { input: text, encoding: 'utf8' });
  return r.status === 0 ? JSON.parse(r.stdout) : null;
}
const hasPyYaml = pyYaml('a: 1') !== null;

describe('toYaml', () => {
  const data = {
    s: 'yes',
    v: '6.12',
    quote: 'a "b" \\ c: {d}',
    n: 1.5,
    t: true,
    z: null,
    list: ['-m 2048', { k: 'v', deep: { x: [1, 2] } }],
    'mirrorlab.kernel': '7.2',
    'needs quotes': 'x',
    empty: [],
    none: {},
  };
  it('writes block YAML with every string quoted', () => {
    expect(toYaml({ a: { b: ['x', { c: 1 }] } })).toBe('a:\n  b:\n    - "x"\n    - c: 1\n');
  });
  it.skipIf(!hasPyYaml)('PyYAML reads back exactly the data written (strings stay strings)', () => {
    expect(pyYaml(toYaml(data))).toEqual(data);
  });
  it('refuses a number YAML cannot carry', () => {
    expect(() => toYaml({ x: NaN })).toThrow('yaml: NaN is not a finite number');
  });
});

describe('job and device definitions', () => {
  const job = lavaJob({ kernel: kernelSeries('6.12'), suite: 'mirrordrm', kernelUrl: 'http://lab/k/vmlinux', ramdiskUrl: 'http://lab/k/initramfs.cpio', release: '6.12.1' }) as Record<string, any>;
  it('deploys kernel and cpio ramdisk to tmpfs with the overlay appended, boots with qemu to our shell, runs the suite', () => {
    const [deploy, boot, test] = job.actions;
    expect(deploy.deploy.to).toBe('tmpfs');
    expect(deploy.deploy.images.kernel).toEqual({ image_arg: `-kernel {kernel} -append "${lavaCmdline('mirrordrm')}"`, url: 'http://lab/k/vmlinux' });
    expect(deploy.deploy.images.ramdisk).toEqual({ image_arg: '-initrd {ramdisk}', url: 'http://lab/k/initramfs.cpio', format: 'cpio.newc', overlays: { lava: true } });
    expect(lavaCmdline('mirrordrm')).toMatch(/^console=ttyS0 .* mirrorlab\.shell=1 mirrorlab\.modules=mirrordrm$/);
    expect(boot.boot).toMatchObject({ method: 'qemu', media: 'tmpfs', prompts: [SHELL_PROMPT], parameters: { 'kernel-start-message': INIT_START_MESSAGE } });
    expect(test.test.definitions[0].repository.run.steps).toEqual(['cd /mirrorlab && /usr/bin/node dist/guest/standalone-main.js --lava mirrordrm']);
    expect(job.context).toEqual({ arch: 'x86_64', memory: 2048 });
    expect(job.device_type).toBe('qemu');
    expect(() => lavaJob({ kernel: kernelSeries('6.12'), suite: 'nope', kernelUrl: '', ramdiskUrl: '', release: '' })).toThrow('unknown suite "nope"');
  });
  it.skipIf(!hasPyYaml)('the job and device files read back as written', () => {
    expect(pyYaml(toYaml(job))).toEqual(job);
    const dev = lavaQemuDevice() as Record<string, any>;
    expect(pyYaml(toYaml(dev))).toEqual(dev);
    expect(dev.actions.boot.methods.qemu.parameters.options).toContain('-accel tcg,thread=single');
    expect((lavaQemuDevice({ kvm: true }) as Record<string, any>).actions.boot.methods.qemu.parameters.options).toContain('-accel kvm');
  });
});

/** lava_common's own (strict) job schema on a job file; null where lava-dispatcher is missing. */
function lavaSchemaProblems(jobYaml: string): string | null {
  const py = 'import sys, yaml\nfrom lava_common.schemas import validate\ntry:\n    validate(yaml.safe_load(sys.stdin))\nexcept Exception as e:\n    print(e)\n';
  const r = spawnSync(PYTHON, ['-c', py], { input: jobYaml, encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : null;
}
const hasLavaCommon = lavaSchemaProblems('{}') !== null;

describe.skipIf(!hasLavaCommon)("LAVA's job schema", () => {
  it('accepts the job as written, and would refuse one it does not know', () => {
    const job = lavaJob({ kernel: kernelSeries('7.2'), suite: 'mirrordrm', kernelUrl: 'file:///k/vmlinux', ramdiskUrl: 'file:///k/initramfs.cpio', release: '7.2.13' }) as Record<string, any>;
    expect(lavaSchemaProblems(toYaml(job))).toBe('');
    expect(lavaSchemaProblems(toYaml({ ...job, context: { ...job.context, memroy: 1 } }))).toMatch(/memroy/);
  });
});

describe('LAVA log records', () => {
  // Lines as lava-run 2023.01 printed them in a real run of the mirrordrm job
  const log = [
    '{"dt": "2026-12-02T19:44:24.199030", "lvl": "target", "msg": "mirrorlab-init: shell on the console at 6.39s"}',
    '{"dt": "2026-12-02T19:44:37.9", "lvl": "target", "msg": "mirrorlab-case: registration@gup-longterm pass 741.2 ns/page"}',
    '{"dt": "2026-12-02T19:44:37.921098", "lvl": "results", "msg": {"case": "registration_gup-longterm", "definition": "0_mirrorlab-mirrordrm", "endtc": ! "285", "measurement": ! "741.2", "result": "pass", "starttc": ! "285", "units": "ns/page"}}',
    '- {"dt": "2026-12-02T19:44:38.0", "lvl": "results", "msg": {"case": "drm-probe", "definition": "0_mirrorlab-mirrordrm", "result": "fail"}}',
    '{"dt": "2026-12-02T19:44:38.1", "lvl": "target", "msg": "caf\\xE9 \\"quoted\\""}',
    'not a record',
  ].join('\n');
  it('reads results (tags dropped, measurements as numbers), target lines and escapes', () => {
    const lines = parseLavaLog(log);
    expect(lines).toHaveLength(5);
    expect(lavaTestCases(lines)).toEqual([
      { definition: '0_mirrorlab-mirrordrm', case: 'registration_gup-longterm', result: 'pass', measurement: 741.2, units: 'ns/page' },
      { definition: '0_mirrorlab-mirrordrm', case: 'drm-probe', result: 'fail' },
    ]);
    expect(lavaTargetText(lines).split('\n')).toEqual(['mirrorlab-init: shell on the console at 6.39s', 'mirrorlab-case: registration@gup-longterm pass 741.2 ns/page', 'café "quoted"']);
    expect(parseLavaLogLine('{"lvl": 1}')).toBeNull();
  });
  it('a measurement that is not a number is an error, not a silent NaN', () => {
    expect(() => lavaTestCases(parseLavaLog('{"dt": "", "lvl": "results", "msg": {"case": "x", "definition": "d", "result": "pass", "measurement": "fast"}}'))).toThrow('LAVA result x: measurement "fast" is not a number');
  });
});

describe('case lines and names', () => {
  it('round-trips through the console text, other lines ignored', () => {
    const lines = [
      { id: 'read-write@gup', result: 'pass' as const },
      { id: 'registration@hmm', result: 'fail' as const, measurement: 246.3, units: 'ns/page' },
    ];
    const text = ['[  6.2] noise', ...lines.map(formatCaseLine).map((l) => `${l}\r`), 'mirrorlab-case: broken'].join('\n');
    expect(formatCaseLine(lines[1])).toBe('mirrorlab-case: registration@hmm fail 246.3 ns/page');
    expect(parseCaseLines(text)).toEqual(lines);
  });
  it('LAVA names keep [A-Za-z0-9._-] only, and every mirrordrm case stays distinct', () => {
    expect(lavaCaseName('munmap-partial@gup-longterm')).toBe('munmap-partial_gup-longterm');
    expect(lavaCaseName('a b=c/d')).toBe('a_b_c_d');
    const names = STANDALONE_SUITES.mirrordrm.cases.map(lavaCaseName);
    expect(new Set(names).size).toBe(names.length);
    for (const n of names) expect(n).toMatch(/^[A-Za-z0-9._-]+$/);
  });
});

describe('mirrorlab lava options', () => {
  it('kernels and suites as comma lists, aliases resolved', () => {
    expect(parseLavaArgs(['--kernel', '6.12,7.2', '--suite', 'mirrordrm', '--out', 'd', '--base-url', 'https://lab/files'])).toEqual({
      kernels: ['6.12', '7.2'],
      suites: ['mirrordrm'],
      out: 'd',
      baseUrl: 'https://lab/files',
    });
  });
  it('usage errors name the problem', () => {
    expect(() => parseLavaArgs(['--kernel', '5.4', '--suite', 'mirrordrm', '--out', 'd'])).toThrow(`unknown kernel "5.4" (kernels: ${KNOWN_KERNELS})`);
    expect(() => parseLavaArgs(['--kernel', '6.12', '--suite', 'x', '--out', 'd'])).toThrow('unknown --suite "x" (one of: mirrordrm)');
    expect(() => parseLavaArgs(['--kernel', '6.12', '--suite', 'mirrordrm'])).toThrow('--out is required');
    expect(() => parseLavaArgs(['--suite', 'mirrordrm', '--out', 'd'])).toThrow('--kernel is required');
    expect(() => parseLavaArgs(['--kernel'])).toThrow('--kernel needs a value');
    expect(() => parseLavaArgs(['--frob', '1'])).toThrow('unknown option --frob');
    expect(() => parseLavaArgs(['--kernel', '6.12', '--suite', 'mirrordrm', '--out', 'd', '--base-url', 'lab/files'])).toThrow('--base-url "lab/files": an http(s)://, file:// or scp:// URL');
  });
});
