import { cachedKvmVerdict } from '../../src/vm/kvm.js';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { native } from '../../src/addon.js';
import { CONFIG_OPTIONS, probe, formatProbe, configValue, type ProbeReport } from '../../src/probe/index.js';
import { machineInfo } from '../../src/report/machine.js';
import { UFFD_FEATURES } from '../../src/userfaultfd/index.js';

const r: ProbeReport = probe();
const bracket = (f: string) => /\[(\S+)\]/.exec(readFileSync(f, 'utf8'))?.[1];

describe('probe', () => {
  it('has the documented keys, each with a source', () => {
    expect(Object.keys(r).sort()).toEqual(
      ['schema', 'kernel', 'config', 'pageSizes', 'thp', 'hugetlb', 'userfaultfd', 'pagemap', 'kpageflags', 'perf', 'modules', 'kvm', 'drm', 'libraries', 'gpu'].sort(),
    );
    expect(r.schema).toBe('mirrorlab-probe/2');
    for (const [k, v] of Object.entries(r)) {
      if (k === 'schema') continue;
      expect(typeof (v as { source: string }).source, k).toBe('string');
      expect((v as { source: string }).source.length, k).toBeGreaterThan(3);
    }
    expect(Object.keys(r.config.value).sort()).toEqual(Object.keys(CONFIG_OPTIONS).sort());
  });

  it('kernel release matches /proc/sys/kernel/osrelease', () => {
    expect(r.kernel.value.release).toBe(readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim());
  });

  it('config values match the config file', (ctx) => {
    let text: string | null = null;
    if (existsSync('/proc/config.gz')) text = gunzipSync(readFileSync('/proc/config.gz')).toString();
    else if (existsSync(`/boot/config-${os.release()}`)) text = readFileSync(`/boot/config-${os.release()}`, 'utf8');
    if (!text) {
      console.warn('no kernel config readable: skipping');
      return ctx.skip();
    }
    for (const o of Object.keys(CONFIG_OPTIONS)) {
      expect(o).toMatch(/^CONFIG_[A-Z0-9_]+$/);
      const line = text.split('\n').find((l) => l.startsWith(`${o}=`) || l === `# ${o} is not set`);
      const want = line === undefined ? null : line.startsWith('#') ? 'n' : line.slice(`${o}=`.length);
      expect(r.config.value[o], o).toBe(want);
    }
    expect(configValue('CONFIG_A=y\n# CONFIG_B is not set\nCONFIG_C="x"\n', 'CONFIG_C')).toBe('x');
    expect(configValue('CONFIG_A=y\n# CONFIG_B is not set\n', 'CONFIG_B')).toBe('n');
    expect(configValue('CONFIG_A=y\n', 'CONFIG_AB')).toBeNull();
  });

  it('THP settings equal the bracketed words in sysfs', (ctx) => {
    const d = '/sys/kernel/mm/transparent_hugepage';
    if (!existsSync(`${d}/enabled`)) {
      console.warn('no THP sysfs: skipping');
      return ctx.skip();
    }
    expect(r.thp.value.enabled).toBe(bracket(`${d}/enabled`));
    expect(r.thp.value.defrag).toBe(bracket(`${d}/defrag`));
    expect(r.thp.value.shmemEnabled).toBe(bracket(`${d}/shmem_enabled`));
    expect(r.pageSizes.value.thpPmd).toBe(Number(readFileSync(`${d}/hpage_pmd_size`, 'utf8')));
  });

  it('page sizes and hugetlb pools match sysfs', () => {
    expect(r.pageSizes.value.base).toBe(4096);
    const sizes = readdirSync('/sys/kernel/mm/hugepages').map((d) => Number(/(\d+)kB/.exec(d)![1])).sort((a, b) => a - b);
    expect(r.hugetlb.value.map((h) => h.sizeKb)).toEqual(sizes);
    expect(r.pageSizes.value.hugetlb).toEqual(sizes.map((k) => k * 1024));
    for (const h of r.hugetlb.value) {
      // pools may be changed by other tests only through their own reservations; read back now
      const nr = Number(readFileSync(`/sys/kernel/mm/hugepages/hugepages-${h.sizeKb}kB/nr_hugepages`, 'utf8'));
      expect(h.nr).toBe(nr);
    }
  });

  it('userfaultfd: availability matches the device node and the API reports features', () => {
    const u = r.userfaultfd.value;
    expect(u.devUserfaultfd.ok).toBe(existsSync('/dev/userfaultfd'));
    if (u.syscall.ok || u.devUserfaultfd.ok) {
      expect(u.api).toBe(0xaa);
      const bits = BigInt(u.featureBits!);
      expect(u.features).toEqual(UFFD_FEATURES.filter((_, i) => bits & (1n << BigInt(i))));
      expect(u.features).toContain('EVENT_FORK');
    }
    expect(u.unprivileged).toBe(Number(readFileSync('/proc/sys/vm/unprivileged_userfaultfd', 'utf8')));
  });

  it('perf, modules, KVM and DRM agree with /proc and /dev', () => {
    expect(r.perf.value.paranoid).toBe(Number(readFileSync('/proc/sys/kernel/perf_event_paranoid', 'utf8')));
    if (process.getuid?.() === 0) expect(r.perf.value.available).toBe(true);
    expect(r.modules.value.procModules).toBe(existsSync('/proc/modules'));
    if (!existsSync('/proc/modules')) expect(r.modules.value.canLoad).toBe(false);
    expect(r.kvm.value.present).toBe(existsSync('/dev/kvm'));
    expect(['absent', 'unusable', 'present, unverified', 'guests boot', 'guests do not boot']).toContain(r.kvm.value.verdict);
    const dri = existsSync('/dev/dri') ? readdirSync('/dev/dri').filter((n) => /^(card|renderD)\d+$/.test(n)) : [];
    expect(r.drm.value.map((d) => d.path.replace('/dev/dri/', '')).sort()).toEqual(dri.sort());
    const libc = r.libraries.value.find((l) => l.name === 'c');
    expect(libc?.found).toBe(true);
  });

  it('pagemap is readable as root, with PFNs', (ctx) => {
    if (process.getuid?.() !== 0) {
      console.warn('not root: PFNs are hidden, skipping');
      return ctx.skip();
    }
    expect(r.pagemap.value).toEqual({ readable: true, pfns: true });
  });

  it('the human form has one finding per line, each followed by its source', () => {
    const text = formatProbe(r);
    for (const label of ['kernel', 'THP', 'hugetlb pools', 'userfaultfd', 'pagemap', 'perf counters', 'kernel modules', 'KVM', 'DRM devices'])
      expect(text).toMatch(new RegExp(`^${label} .*\\n\\s+from \\S`, 'm'));
    // Config options as in .config, the same keys and values as results.json's machine.kernelConfig.
    const machine = machineInfo();
    for (const o of Object.keys(CONFIG_OPTIONS)) {
      const v = r.config.value[o];
      expect(text).toMatch(new RegExp(`^ {2}${v === null ? `${o} absent` : `${o}=${v}`} +\\S`, 'm'));
      if (o in machine.kernelConfig) expect(machine.kernelConfig[o], o).toBe(v);
    }
    // Sizes spelled 4K / 2M / 1G, never 2048k.
    expect(text).not.toMatch(/\b\d+k\b/);
  });

  it('DRM_IOCTL_VERSION on a node that is not DRM fails with the real errno', () => {
    let err: any;
    try {
      native.drmVersion('/dev/null');
    } catch (e) {
      err = e;
    }
    expect(err.code).toBe('ENOTTY');
    expect(err.syscall).toBe('ioctl(DRM_IOCTL_VERSION)');
  });

  it('KVM: API version 12 and a VM when /dev/kvm opens', (ctx) => {
    if (!existsSync('/dev/kvm')) {
      console.warn('no /dev/kvm: skipping');
      return ctx.skip();
    }
    const k = r.kvm.value;
    if (k.verdict === 'unusable') {
      console.warn(`KVM unusable: ${r.kvm.note}`);
      expect(k.failedAt).toBeTruthy();
      return;
    }
    expect(k.apiVersion).toBe(12);
    expect(k.vmCreated).toBe(true);
    // a KVM test boot of a Linux guest, where the runner has made one, decides the verdict
    const boot = cachedKvmVerdict();
    if (boot) {
      expect(k.verdict).toBe(boot.usable ? 'guests boot' : 'guests do not boot');
      expect(k.guestBoot).toEqual({ usable: boot.usable, detail: boot.detail, at: boot.at });
      expect(r.kvm.source).toContain('kvm-probe.json');
    } else {
      expect(k.verdict).toBe('present, unverified');
    }
    if (!k.guestRan) console.warn(`the real-mode test guest did not finish: ${r.kvm.note}`);
  });

  it('gpu: CUDA devices with the attributes read from the driver, or the reason there is none', () => {
    const g = r.gpu.value;
    const version = existsSync('/proc/driver/nvidia/version') ? readFileSync('/proc/driver/nvidia/version', 'utf8').split('\n')[0].trim() : null;
    expect(g.nvidiaModule.version).toBe(version);
    if (version) expect(g.nvidiaModule.open).toBe(version.includes('Open Kernel Module'));
    if (!g.cuda.available) {
      expect(g.cuda.reason).toMatch(/libcuda|cuInit|no device/);
      expect(g.cuda.devices).toEqual([]);
      console.warn(`no CUDA here: ${g.cuda.reason}`);
    } else {
      expect(g.cuda.driverVersion).toBeGreaterThan(0);
      for (const d of g.cuda.devices) {
        expect(d.attributes.computeCapabilityMajor).toBeGreaterThan(0);
        expect(d.hmm).toBe(d.attributes.pageableMemoryAccess === 1);
      }
    }
    // Every DRM node is listed with its driver, and only the drivers mirrorlab drives get an interface.
    expect(g.drm.map((d) => d.path)).toEqual(r.drm.value.map((d) => d.path));
    for (const d of g.drm) expect(d.userptr !== null).toBe(['amdgpu', 'i915', 'xe', 'nouveau'].includes(d.driver ?? ''));
    expect(formatProbe(r)).toContain(g.cuda.available ? 'CUDA driver API' : 'CUDA: none');
  });
});
