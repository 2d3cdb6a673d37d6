// The probe's GPU section: the NVIDIA driver (CUDA driver API version, the
// kernel module and whether it is the open one), each CUDA device's
// attributes that decide how it can mirror user memory, whether nvidia-uvm
// has HMM on, and which DRM userptr backend each /dev/dri node's driver gets.
import { readFileSync } from 'node:fs';
import { cudaAvailability, hmmKernelGap, type CudaDeviceInfo } from '../gpu/cuda/device.js';
import { DRM_BACKEND_UAPI, isDrmBackendName } from '../gpu/drm/common.js';

export interface GpuProbe {
  cuda: {
    available: boolean;
    /** Why not: no libcuda.so.1, cuInit failed, no device. */
    reason: string | null;
    /** cuDriverGetVersion, e.g. 13000 for CUDA 13.0. */
    driverVersion: number | null;
    devices: (Omit<CudaDeviceInfo, 'totalMem'> & { totalMem: string; hmm: boolean })[];
  };
  /** /proc/driver/nvidia/version's first line, and whether it names the open kernel module. */
  nvidiaModule: { version: string | null; open: boolean | null };
  /** nvidia-uvm's uvm_disable_hmm parameter (null when the module is not loaded). */
  uvm: { loaded: boolean; disableHmm: string | null };
  /** The kernel options HMM needs that this kernel's config lacks (HMM_MIRROR, DEVICE_PRIVATE, ZONE_DEVICE), or null. */
  hmmKernelGap: string | null;
  /** Each DRM node's driver and the userptr interface mirrorlab drives on it, or null. */
  drm: { path: string; driver: string | null; userptr: string | null }[];
}

function read(p: string): string | null {
  try {
    return readFileSync(p, 'utf8');
  } catch {
    return null;
  }
}

export function probeGpu(drm: { value: readonly { path: string; driver: string | null }[] }): { value: GpuProbe; source: string; note?: string } {
  const a = cudaAvailability();
  const versionLine = read('/proc/driver/nvidia/version')?.split('\n')[0]?.trim() ?? null;
  const uvmParam = read('/sys/module/nvidia_uvm/parameters/uvm_disable_hmm');
  const uvmLoaded = read('/sys/module/nvidia_uvm/initstate') !== null || uvmParam !== null;
  const value: GpuProbe = {
    cuda: {
      available: a.ok,
      reason: a.reason,
      driverVersion: a.driverVersion,
      devices: a.devices.map((d) => ({ ...d, totalMem: d.totalMem.toString(), hmm: d.attributes.pageableMemoryAccess === 1 })),
    },
    nvidiaModule: { version: versionLine, open: versionLine === null ? null : /Open Kernel Module/i.test(versionLine) },
    uvm: { loaded: uvmLoaded, disableHmm: uvmParam?.trim() ?? null },
    hmmKernelGap: hmmKernelGap(),
    drm: drm.value.map((d) => ({ path: d.path, driver: d.driver, userptr: d.driver && isDrmBackendName(d.driver) ? DRM_BACKEND_UAPI[d.driver] : null })),
  };
  const hmmOff = value.uvm.disableHmm === 'Y' || value.uvm.disableHmm === '1';
  return {
    value,
    source: `dlopen(${a.library}), cuDriverGetVersion, cuDeviceGetAttribute, /proc/driver/nvidia/version, /sys/module/nvidia_uvm/parameters/uvm_disable_hmm, ioctl(DRM_IOCTL_VERSION)`,
    note: !a.ok ? `no CUDA: ${a.reason}` : hmmOff ? 'nvidia-uvm has HMM switched off (uvm_disable_hmm)' : undefined,
  };
}

/** The probe's text lines for the GPU section. */
export function formatGpu(g: GpuProbe): string[] {
  const out: string[] = [];
  if (!g.cuda.available) out.push(`  CUDA: none (${g.cuda.reason})`);
  else {
    const v = g.cuda.driverVersion ?? 0;
    out.push(`  CUDA driver API ${Math.floor(v / 1000)}.${(v % 1000) / 10}, ${g.cuda.devices.length} device(s)`);
  }
  if (g.nvidiaModule.version) out.push(`  ${g.nvidiaModule.version} (${g.nvidiaModule.open ? 'open' : 'proprietary'} kernel module)`);
  if (g.uvm.loaded) out.push(`  nvidia-uvm loaded, uvm_disable_hmm=${g.uvm.disableHmm ?? '-'}`);
  if (g.hmmKernelGap) out.push(`  no HMM from this kernel: ${g.hmmKernelGap}`);
  for (const d of g.cuda.devices) {
    const at = d.attributes;
    out.push(`  ${d.ordinal}: ${d.name} (sm ${d.computeCapability}, ${d.pciBusId}) HMM ${d.hmm ? 'yes' : 'no'}: ` +
      `pageableMemoryAccess ${at.pageableMemoryAccess} usesHostPageTables(ATS) ${at.pageableMemoryAccessUsesHostPageTables} ` +
      `concurrentManaged ${at.concurrentManagedAccess} hostPointerForRegistered ${at.canUseHostPointerForRegisteredMem} ` +
      `hostRegister ${at.hostRegisterSupported} readOnlyHostRegister ${at.readOnlyHostRegisterSupported}`);
  }
  for (const d of g.drm) out.push(`  ${d.path}: ${d.driver ?? '?'} -> ${d.userptr ?? 'no userptr interface mirrorlab drives'}`);
  return out;
}
