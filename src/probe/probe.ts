// mirrorlab probe: what this machine's kernel offers to the mirrorlab
// measurements, each answer with the place it was read from (a file) or the
// system call that proved it. Nothing here changes kernel state, except that
// KVM is exercised with a throwaway VM and pagemap with a one-page mapping.
import { cachedKvmVerdict } from '../vm/kvm.js';
import { closeSync, existsSync, openSync, readdirSync, readFileSync, readlinkSync, readSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { native } from '../addon.js';
import { findLibrary } from '../ffi/index.js';
import { Userfaultfd } from '../userfaultfd/index.js';
import { zeroPageOff } from '../memory/thp.js';
import { formatGpu, probeGpu, type GpuProbe } from './gpu.js';

/** A probed value and how it was found. */
export interface Found<T> {
  value: T;
  /** File path(s) or system call(s) that gave the value. */
  source: string;
  /** Why a value is missing or what it means, when that is not obvious. */
  note?: string;
}

/** Config options that matter to mirrorlab, with why; named as in .config, like machine.kernelConfig in results.json. */
export const CONFIG_OPTIONS: Record<string, string> = {
  CONFIG_USERFAULTFD: 'userfaultfd sessions (MISSING, WP, MINOR, MOVE)',
  CONFIG_PTE_MARKER_UFFD_WP: 'userfaultfd write-protect on shmem/hugetlb and unpopulated ranges',
  CONFIG_TRANSPARENT_HUGEPAGE: 'THP (PMD-mapped anonymous and shmem memory)',
  CONFIG_HUGETLBFS: 'hugetlb 2 MiB / 1 GiB mappings',
  CONFIG_MMU_NOTIFIER: 'mmu_interval_notifier invalidations (HMM and userptr drivers)',
  CONFIG_HMM_MIRROR: 'hmm_range_fault (HMM-mode mirrors)',
  CONFIG_ZONE_DEVICE: 'device pages (needed by DEVICE_PRIVATE)',
  CONFIG_DEVICE_PRIVATE: 'migration to device-private memory (fakevram, test_hmm)',
  CONFIG_GUP_TEST: 'the gup_test debugfs interface used by mm selftests',
  CONFIG_ARCH_SUPPORTS_PMD_PFNMAP: 'huge (PMD) special pfnmaps for device memory',
  CONFIG_ARCH_SUPPORTS_PUD_PFNMAP: 'huge (PUD) special pfnmaps for device memory',
  CONFIG_MODULES: 'loading mirrorlab kernel modules (mirrordrm, fakevram)',
  CONFIG_DRM: 'DRM drivers and /dev/dri nodes',
  CONFIG_KVM: 'hardware-assisted guests',
  CONFIG_NUMA: 'NUMA migration scenarios',
  CONFIG_KSM: 'MADV_MERGEABLE scenarios',
};

export interface ProbeReport {
  schema: 'mirrorlab-probe/2';
  kernel: Found<{ release: string; version: string; machine: string }>;
  config: Found<Record<string, string | null>>;
  pageSizes: Found<{ base: number; hugetlb: number[]; thpPmd: number | null }>;
  thp: Found<{ enabled: string | null; defrag: string | null; shmemEnabled: string | null; mthp: { sizeKb: number; enabled: string | null; shmemEnabled: string | null }[] }>;
  hugetlb: Found<{ sizeKb: number; nr: number; free: number; resv: number; surplus: number }[]>;
  userfaultfd: Found<{
    syscall: { ok: boolean; code?: string; userModeOnly?: boolean };
    devUserfaultfd: { ok: boolean; code?: string };
    unprivileged: number | null;
    api: number | null;
    /** UFFD_FEATURE_* names (without the prefix) the kernel offers. */
    features: string[];
    featureBits: string | null;
    /** ioctls valid on the uffd itself. */
    ioctls: string[];
  }>;
  pagemap: Found<{ readable: boolean; pfns: boolean }>;
  kpageflags: Found<{ readable: boolean }>;
  perf: Found<{ paranoid: number | null; available: boolean; excludeKernel?: boolean; code?: string }>;
  modules: Found<{ canLoad: boolean; procModules: boolean; modulesDisabled: number | null; configModules: string | null }>;
  kvm: Found<{ present: boolean; verdict: 'absent' | 'unusable' | 'present, unverified' | 'guests boot' | 'guests do not boot'; guestBoot?: { usable: boolean; detail: string; at: string }; apiVersion?: number; vmCreated?: boolean; guestRan?: boolean; exits?: string; failedAt?: string; code?: string }>;
  drm: Found<{ path: string; driver: string | null; desc?: string; date?: string; version?: string; sysfsDriver?: string | null; code?: string }[]>;
  libraries: Found<{ name: string; found: boolean; path?: string; reason?: string }[]>;
  /** NVIDIA driver and CUDA devices, nvidia-uvm's HMM, DRM userptr backends. */
  gpu: Found<GpuProbe>;
}

function read(p: string): string | null {
  try {
    return readFileSync(p, 'utf8');
  } catch {
    return null;
  }
}

function readInt(p: string): number | null {
  const t = read(p);
  return t === null || t.trim() === '' ? null : Number(t.trim());
}

function bracketed(p: string): string | null {
  const t = read(p);
  return t === null ? null : (/\[(\S+)\]/.exec(t)?.[1] ?? null);
}

function errCode(e: unknown): string {
  return (e as { code?: string }).code ?? String(e);
}

export function probeKernel(): ProbeReport['kernel'] {
  return { value: { release: os.release(), version: os.version(), machine: os.machine() }, source: 'uname(2)' };
}

/** The kernel config text and where it came from, or null. */
export function readKernelConfig(): { text: string; source: string } | null {
  try {
    return { text: gunzipSync(readFileSync('/proc/config.gz')).toString('utf8'), source: '/proc/config.gz' };
  } catch {
    /* not built with IKCONFIG_PROC */
  }
  const boot = `/boot/config-${os.release()}`;
  const t = read(boot);
  return t === null ? null : { text: t, source: boot };
}

/** 'y', 'm', a value, 'n' (explicitly not set) or null (absent from the config); option as in .config: CONFIG_FOO. */
export function configValue(text: string, option: string): string | null {
  const m = new RegExp(`^${option}=(.*)$`, 'm').exec(text);
  if (m) return m[1].replace(/^"(.*)"$/, '$1');
  if (new RegExp(`^# ${option} is not set$`, 'm').test(text)) return 'n';
  return null;
}

export function probeConfig(): ProbeReport['config'] {
  const cfg = readKernelConfig();
  const value: Record<string, string | null> = {};
  for (const o of Object.keys(CONFIG_OPTIONS)) value[o] = cfg ? configValue(cfg.text, o) : null;
  if (!cfg) return { value, source: `/proc/config.gz, /boot/config-${os.release()}`, note: 'no kernel config readable' };
  return { value, source: cfg.source, note: 'null = absent from the config (option unknown to this kernel or its dependencies off)' };
}

function hugetlbSizesKb(): number[] {
  try {
    return readdirSync('/sys/kernel/mm/hugepages')
      .map((d) => /^hugepages-(\d+)kB$/.exec(d)?.[1])
      .filter((x): x is string => !!x)
      .map(Number)
      .sort((a, b) => a - b);
  } catch {
    return [];
  }
}

export function probePageSizes(): ProbeReport['pageSizes'] {
  const pmd = readInt('/sys/kernel/mm/transparent_hugepage/hpage_pmd_size');
  return {
    value: { base: native.mmConstants.PAGE_SIZE, hugetlb: hugetlbSizesKb().map((k) => k * 1024), thpPmd: pmd },
    source: 'sysconf(_SC_PAGESIZE), /sys/kernel/mm/hugepages/, /sys/kernel/mm/transparent_hugepage/hpage_pmd_size',
  };
}

export function probeThp(): ProbeReport['thp'] {
  const dir = '/sys/kernel/mm/transparent_hugepage';
  let mthp: { sizeKb: number; enabled: string | null; shmemEnabled: string | null }[] = [];
  try {
    mthp = readdirSync(dir)
      .map((d) => /^hugepages-(\d+)kB$/.exec(d)?.[1])
      .filter((x): x is string => !!x)
      .map(Number)
      .sort((a, b) => a - b)
      .map((kb) => ({
        sizeKb: kb,
        enabled: bracketed(`${dir}/hugepages-${kb}kB/enabled`),
        shmemEnabled: bracketed(`${dir}/hugepages-${kb}kB/shmem_enabled`),
      }));
  } catch {
    /* no THP */
  }
  const enabled = bracketed(`${dir}/enabled`);
  const noZeroPage = zeroPageOff({ huge: true });
  const note = [enabled === null ? 'THP not built in (no sysfs directory)' : null, noZeroPage].filter((x) => x !== null).join('; ');
  return {
    value: { enabled, defrag: bracketed(`${dir}/defrag`), shmemEnabled: bracketed(`${dir}/shmem_enabled`), mthp },
    source: `${dir}/{enabled,defrag,shmem_enabled,hugepages-*kB/enabled}`,
    ...(note ? { note } : {}),
  };
}

export function probeHugetlb(): ProbeReport['hugetlb'] {
  const value = hugetlbSizesKb().map((kb) => {
    const d = `/sys/kernel/mm/hugepages/hugepages-${kb}kB`;
    return {
      sizeKb: kb,
      nr: readInt(`${d}/nr_hugepages`) ?? 0,
      free: readInt(`${d}/free_hugepages`) ?? 0,
      resv: readInt(`${d}/resv_hugepages`) ?? 0,
      surplus: readInt(`${d}/surplus_hugepages`) ?? 0,
    };
  });
  return { value, source: '/sys/kernel/mm/hugepages/hugepages-*kB/{nr,free,resv,surplus}_hugepages' };
}

export function probeUserfaultfd(): ProbeReport['userfaultfd'] {
  // The handshake through the userfaultfd module: a throwaway uffd asking
  // for no feature, to which UFFDIO_API answers with every feature it has.
  const tryOpen = (via: 'syscall' | 'device') => {
    try {
      return { ok: true as const, info: Userfaultfd.probe({ via }) };
    } catch (e) {
      return { ok: false as const, code: errCode(e), message: (e as Error).message };
    }
  };
  const sys = tryOpen('syscall');
  const dev = tryOpen('device');
  const info = sys.ok ? sys.info : dev.ok ? dev.info : null;
  const value = {
    syscall: sys.ok ? { ok: true, ...(sys.info.userModeOnly ? { userModeOnly: true } : {}) } : { ok: false, code: sys.code },
    devUserfaultfd: dev.ok ? { ok: true } : { ok: false, code: dev.code },
    unprivileged: readInt('/proc/sys/vm/unprivileged_userfaultfd'),
    api: info?.api ?? null,
    features: info ? [...info.offered] : [],
    featureBits: info ? '0x' + info.offeredBits.toString(16) : null,
    ioctls: info ? [...info.ioctls] : [],
  };
  const unknown = info && info.unknownFeatureBits ? `feature bits without a name here: 0x${info.unknownFeatureBits.toString(16)}` : undefined;
  return {
    value,
    source: 'userfaultfd(2), open(/dev/userfaultfd) + ioctl(USERFAULTFD_IOC_NEW), ioctl(UFFDIO_API) (Userfaultfd.probe), /proc/sys/vm/unprivileged_userfaultfd',
    ...(unknown ? { note: unknown } : !sys.ok && !dev.ok ? { note: `${sys.message}; ${dev.message}` } : {}),
  };
}

/** Read pagemap for a page we mapped and wrote ourselves, then its kpageflags entry. */
export function probePagemap(): { pagemap: ProbeReport['pagemap']; kpageflags: ProbeReport['kpageflags'] } {
  const run = native.faultRun({ length: 4096, stride: 4096, write: true, repetitions: 1, keepLast: true, perf: false });
  const addr = run.keptAddress!; // keepLast: the mapping outlives the run
  let readable = false;
  let pfn = 0n;
  let note: string | undefined;
  try {
    const fd = openSync('/proc/self/pagemap', 'r');
    try {
      const b = Buffer.alloc(8);
      const n = readSync(fd, b, 0, 8, Number((addr / 4096n) * 8n));
      if (n === 8) {
        const e = b.readBigUInt64LE(0);
        readable = (e >> 63n & 1n) === 1n;
        pfn = e & ((1n << 55n) - 1n);
        if (!readable) note = 'entry read but page not present';
      }
    } finally {
      closeSync(fd);
    }
  } catch (e) {
    note = errCode(e);
  } finally {
    native.munmap(addr, 4096);
  }
  const pagemap: ProbeReport['pagemap'] = {
    value: { readable, pfns: pfn !== 0n },
    source: '/proc/self/pagemap (entry of a page written by the probe)',
    ...(note ? { note } : readable && pfn === 0n ? { note: 'PFNs hidden (needs CAP_SYS_ADMIN)' } : {}),
  };
  let kreadable = false;
  let knote: string | undefined;
  try {
    const fd = openSync('/proc/kpageflags', 'r');
    try {
      const b = Buffer.alloc(8);
      kreadable = readSync(fd, b, 0, 8, Number(pfn * 8n)) === 8;
    } finally {
      closeSync(fd);
    }
  } catch (e) {
    knote = errCode(e);
  }
  return { pagemap, kpageflags: { value: { readable: kreadable }, source: '/proc/kpageflags', ...(knote ? { note: knote } : {}) } };
}

export function probePerf(): ProbeReport['perf'] {
  const paranoid = readInt('/proc/sys/kernel/perf_event_paranoid');
  const p = native.perfProbe();
  return {
    value: { paranoid, available: p.available, ...(p.available ? { excludeKernel: p.excludeKernel } : { code: p.code }) },
    source: '/proc/sys/kernel/perf_event_paranoid, perf_event_open(2) of PERF_COUNT_SW_PAGE_FAULTS{,_MIN,_MAJ} on this thread',
    ...(!p.available && p.message ? { note: p.message } : {}),
  };
}

export function probeModules(config: ProbeReport['config']): ProbeReport['modules'] {
  const procModules = existsSync('/proc/modules');
  const modulesDisabled = readInt('/proc/sys/kernel/modules_disabled');
  const configModules = config.value.CONFIG_MODULES;
  const canLoad = procModules && modulesDisabled !== 1 && configModules !== 'n';
  let note: string;
  if (!procModules) note = 'no /proc/modules: the kernel has no module support';
  else if (modulesDisabled === 1) note = 'kernel.modules_disabled = 1';
  else if (configModules === 'n') note = 'CONFIG_MODULES is not set';
  else note = 'module support present (signature policy not checked)';
  return { value: { canLoad, procModules, modulesDisabled, configModules }, source: `/proc/modules, /proc/sys/kernel/modules_disabled, CONFIG_MODULES (${config.source})`, note };
}

export function probeKvm(): ProbeReport['kvm'] {
  const source = 'open(/dev/kvm), ioctl(KVM_GET_API_VERSION, KVM_CREATE_VM, KVM_CREATE_VCPU, KVM_RUN)';
  if (!existsSync('/dev/kvm')) return { value: { present: false, verdict: 'absent' }, source: 'stat(/dev/kvm)' };
  const r = native.kvmProbe();
  if (!r.vmCreated)
    return { value: { present: true, verdict: 'unusable', ...r }, source, note: `${r.failedAt} failed: ${r.code}` };
  // The real test: a Linux guest booted by the QEMU runner (src/vm/kvm.ts),
  // cached per host kernel and QEMU version.
  const boot = cachedKvmVerdict();
  if (boot) {
    return {
      value: { present: true, verdict: boot.usable ? 'guests boot' : 'guests do not boot', guestBoot: { usable: boot.usable, detail: boot.detail, at: boot.at }, ...r },
      source: `${source}; a KVM test boot of a Linux guest (${boot.file}, ${boot.at})`,
      note: boot.usable ? `a Linux guest booted to the agent under KVM: ${boot.detail}` : `a Linux guest did not boot under KVM (the runner uses TCG): ${boot.detail}`,
    };
  }
  return {
    value: { present: true, verdict: 'present, unverified', ...r },
    source,
    note: r.guestRan
      ? 'a 5-byte real-mode test guest ran to HLT under KVM_RUN; booting a full Linux guest is not verified: use TCG unless a guest run proves it'
      : `a VM was created but the real-mode test guest did not finish (exits ${r.exits ?? 'none'}${r.failedAt ? `, ${r.failedAt}: ${r.code}` : ''})`,
  };
}

export function probeDrm(): ProbeReport['drm'] {
  let names: string[] = [];
  try {
    names = readdirSync('/dev/dri').filter((n) => /^(card|renderD)\d+$/.test(n)).sort();
  } catch {
    return { value: [], source: '/dev/dri', note: 'no /dev/dri directory' };
  }
  const value = names.map((n) => {
    const p = path.join('/dev/dri', n);
    let sysfsDriver: string | null = null;
    try {
      sysfsDriver = path.basename(readlinkSync(`/sys/class/drm/${n}/device/driver`));
    } catch {
      /* virtual devices have no parent driver */
    }
    try {
      const v = native.drmVersion(p);
      return { path: p, driver: v.name, desc: v.desc, date: v.date, version: `${v.major}.${v.minor}.${v.patchlevel}`, sysfsDriver };
    } catch (e) {
      return { path: p, driver: null, code: errCode(e), sysfsDriver };
    }
  });
  return { value, source: 'readdir(/dev/dri), ioctl(DRM_IOCTL_VERSION), /sys/class/drm/*/device/driver' };
}

/** Optional C libraries for ad-hoc calls (src/ffi): found by dlopen, or why not. */
export function probeLibraries(): ProbeReport['libraries'] {
  const value = ['c', 'drm', 'cuda'].map((n) => {
    const r = findLibrary(n);
    if (!r.found) return { name: n, found: false, reason: r.reason };
    if (n !== 'c') r.library.close();
    return { name: n, found: true, path: r.path };
  });
  return { value, source: 'dlopen(3) through ffi-rs' };
}

/** Everything at once. */
export function probe(): ProbeReport {
  const config = probeConfig();
  const { pagemap, kpageflags } = probePagemap();
  const drm = probeDrm();
  return {
    schema: 'mirrorlab-probe/2',
    kernel: probeKernel(),
    config,
    pageSizes: probePageSizes(),
    thp: probeThp(),
    hugetlb: probeHugetlb(),
    userfaultfd: probeUserfaultfd(),
    pagemap,
    kpageflags,
    perf: probePerf(),
    modules: probeModules(config),
    kvm: probeKvm(),
    drm,
    libraries: probeLibraries(),
    gpu: probeGpu(drm),
  };
}

function yn(b: boolean): string {
  return b ? 'yes' : 'no';
}

/** The human-readable form: one line per finding, each ending with how it was found. */
export function formatProbe(r: ProbeReport): string {
  const lines: string[] = [];
  const line = (label: string, value: string, source: string, note?: string) => {
    lines.push(`${label.padEnd(20)} ${value}${note ? `  (${note})` : ''}`);
    lines.push(`${''.padEnd(20)}   from ${source}`);
  };
  const k = r.kernel.value;
  line('kernel', `${k.release} ${k.machine}`, r.kernel.source);
  line('kernel config', r.config.note === 'no kernel config readable' ? 'not readable' : 'readable', r.config.source);
  for (const [o, why] of Object.entries(CONFIG_OPTIONS)) {
    const v = r.config.value[o];
    // As in .config (CONFIG_FOO=y, =n for "is not set"); "absent" when the option is not in it at all.
    lines.push(`  ${(v === null ? `${o} absent` : `${o}=${v}`).padEnd(40)} ${why}`);
  }
  const ps = r.pageSizes.value;
  line('page sizes', `base ${ps.base}, hugetlb ${ps.hugetlb.map(sizeName).join(' ') || 'none'}, THP PMD ${ps.thpPmd ? sizeName(ps.thpPmd) : 'none'}`, r.pageSizes.source);
  const t = r.thp.value;
  const on = (v: string | null) => v !== null && v !== 'never';
  const anonOn = t.mthp.filter((m) => on(m.enabled)).map((m) => `${sizeName(m.sizeKb * 1024)}:${m.enabled}`);
  const shmemOn = t.mthp.filter((m) => on(m.shmemEnabled)).map((m) => `${sizeName(m.sizeKb * 1024)}:${m.shmemEnabled}`);
  line('THP', `enabled [${t.enabled ?? '-'}] defrag [${t.defrag ?? '-'}] shmem_enabled [${t.shmemEnabled ?? '-'}]`, r.thp.source, r.thp.note);
  if (t.mthp.length)
    lines.push(`  per-size (mTHP) not 'never': anon ${anonOn.join(' ') || 'none'}; shmem ${shmemOn.join(' ') || 'none'} (of ${t.mthp.map((m) => sizeName(m.sizeKb * 1024)).join(' ')})`);
  line('hugetlb pools', r.hugetlb.value.map((h) => `${sizeName(h.sizeKb * 1024)}: nr ${h.nr} free ${h.free} resv ${h.resv} surplus ${h.surplus}`).join('; ') || 'none', r.hugetlb.source);
  const u = r.userfaultfd.value;
  line('userfaultfd', `syscall ${u.syscall.ok ? 'ok' : u.syscall.code}, /dev/userfaultfd ${u.devUserfaultfd.ok ? 'ok' : u.devUserfaultfd.code}, unprivileged_userfaultfd ${u.unprivileged ?? '-'}`, r.userfaultfd.source, r.userfaultfd.note);
  lines.push(`  UFFDIO_API 0x${u.api?.toString(16) ?? '-'} features ${u.featureBits ?? '-'}: ${u.features.join(' ') || 'none'}`);
  line('pagemap', `${r.pagemap.value.readable ? 'readable' : 'not readable'}, PFNs ${r.pagemap.value.pfns ? 'visible' : 'hidden'}`, r.pagemap.source, r.pagemap.note);
  line('kpageflags', r.kpageflags.value.readable ? 'readable' : 'not readable', r.kpageflags.source, r.kpageflags.note);
  const p = r.perf.value;
  line('perf counters', p.available ? `page-fault counters open${p.excludeKernel ? ' (exclude_kernel)' : ''}` : `refused (${p.code})`, r.perf.source, `perf_event_paranoid ${p.paranoid ?? '-'}${r.perf.note ? `; ${r.perf.note}` : ''}`);
  line('kernel modules', r.modules.value.canLoad ? 'can be loaded' : 'cannot be loaded', r.modules.source, r.modules.note);
  const kv = r.kvm.value;
  line('KVM', kv.verdict + (kv.apiVersion !== undefined ? `, API ${kv.apiVersion}` : ''), r.kvm.source, r.kvm.note);
  line('DRM devices', r.drm.value.length ? r.drm.value.map((d) => `${path.basename(d.path)}: ${d.driver ?? d.code}${d.version ? ` ${d.version}` : ''}`).join(', ') : 'none', r.drm.source, r.drm.note);
  line('libraries (ffi)', r.libraries.value.map((l) => `lib${l.name}: ${l.found ? l.path : 'absent'}`).join(', '), r.libraries.source);
  line('GPU', r.gpu.value.cuda.available ? 'CUDA' : 'no CUDA device', r.gpu.source, r.gpu.note);
  lines.push(...formatGpu(r.gpu.value));
  return lines.join('\n');
}

function sizeName(bytes: number): string {
  if (bytes >= 1 << 30 && bytes % (1 << 30) === 0) return `${bytes / (1 << 30)}G`;
  if (bytes >= 1 << 20 && bytes % (1 << 20) === 0) return `${bytes / (1 << 20)}M`;
  if (bytes >= 1024 && bytes % 1024 === 0) return `${bytes / 1024}K`;
  return String(bytes);
}
