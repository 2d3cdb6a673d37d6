// An NVIDIA GPU through the CUDA driver API (native/cuda.cc): whether one is
// here (and why not), its attributes, and the four ways a buffer reaches it.
//
//   cuda-pinned   cuMemHostRegister of a user range: the driver pins the pages
//                 (pin_user_pages, FOLL_LONGTERM on x86) and registers no MMU
//                 notifier, so the GPU keeps the pages it pinned
//   cuda-hmm      plain pageable memory, used at its CPU address: nvidia-uvm
//                 mirrors it with mmu_interval_notifier + hmm_range_fault
//                 (needs the device's pageable memory access, attribute 88)
//   cuda-managed  cuMemAllocManaged: UVM's own managed memory, the baseline
//   cuda-device   cuMemAlloc: device memory, the bandwidth ceiling
//
// Every call is synchronous: the kernels are short, and a GPU fault surfaces
// as the error of the call that launched it (code 'CUDA_ERROR_*').
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { gunzipSync } from 'node:zlib';
import { native } from '../../addon.js';
import { invalidArg, invalidState } from '../../errors.js';
import type { CudaAttributeName } from '../../native.js';
import type { DeviceBuffer, MirrorRange } from '../../mirror/types.js';

export type CudaMirrorKind = 'cuda-pinned' | 'cuda-hmm' | 'cuda-managed' | 'cuda-device';
export const CUDA_MIRROR_KINDS: readonly CudaMirrorKind[] = ['cuda-pinned', 'cuda-hmm', 'cuda-managed', 'cuda-device'];

const C = native.cudaConstants;
export const HOST_REGISTER = {
  PORTABLE: C.CU_MEMHOSTREGISTER_PORTABLE,
  DEVICEMAP: C.CU_MEMHOSTREGISTER_DEVICEMAP,
  IOMEMORY: C.CU_MEMHOSTREGISTER_IOMEMORY,
  READ_ONLY: C.CU_MEMHOSTREGISTER_READ_ONLY,
} as const;

export interface CudaDeviceInfo {
  ordinal: number;
  name: string;
  pciBusId: string;
  totalMem: bigint;
  computeCapability: string;
  attributes: Record<CudaAttributeName, number | null>;
}

/** Whether CUDA can be used here: the driver, its version and devices, or why not. */
export interface CudaAvailability {
  ok: boolean;
  /** Why not (no libcuda.so.1, cuInit failed, no device), null when ok. */
  reason: string | null;
  library: string;
  driverVersion: number | null;
  devices: CudaDeviceInfo[];
}

let cached: CudaAvailability | null = null;

/** Loads libcuda.so.1 (once) and lists its devices; never throws for a missing GPU. */
export function cudaAvailability(): CudaAvailability {
  if (cached) return cached;
  const load = native.cudaLoad(process.env.MIRRORLAB_LIBCUDA || 'libcuda.so.1');
  if (!load.ok) {
    cached = { ok: false, reason: load.error ?? 'libcuda.so.1 did not load', library: load.path, driverVersion: null, devices: [] };
    return cached;
  }
  const count = native.cudaDeviceCount();
  const devices: CudaDeviceInfo[] = [];
  for (let i = 0; i < count; i++) {
    const d = native.cudaDevice(i);
    devices.push({
      ordinal: i, name: d.name, pciBusId: d.pciBusId, totalMem: d.totalMem, attributes: d.attributes,
      computeCapability: `${d.attributes.computeCapabilityMajor}.${d.attributes.computeCapabilityMinor}`,
    });
  }
  cached = {
    ok: count > 0, reason: count > 0 ? null : 'the CUDA driver reports no device', library: load.path,
    driverVersion: native.cudaDriverVersion(), devices,
  };
  return cached;
}

/**
 * What the running kernel's config says about the options nvidia-uvm's HMM
 * needs, e.g. 'CONFIG_DEVICE_PRIVATE is not set', or null when all are on or
 * the config cannot be read.
 */
export function hmmKernelGap(): string | null {
  let text: string;
  try {
    text = gunzipSync(readFileSync('/proc/config.gz')).toString();
  } catch {
    try {
      text = readFileSync(`/boot/config-${os.release()}`, 'utf8');
    } catch {
      return null;
    }
  }
  const missing = ['CONFIG_HMM_MIRROR', 'CONFIG_DEVICE_PRIVATE', 'CONFIG_ZONE_DEVICE'].filter((o) => !new RegExp(`^${o}=y`, 'm').test(text));
  return missing.length ? `kernel ${os.release()}: ${missing.map((o) => `${o} is not set`).join(', ')}` : null;
}

/** Why `kind` cannot run on this device, or null. */
export function cudaKindUnsupported(kind: CudaMirrorKind, info: CudaDeviceInfo): string | null {
  const a = info.attributes;
  switch (kind) {
    case 'cuda-pinned':
      return a.hostRegisterSupported === 0 ? `${info.name}: cuMemHostRegister is not supported (attribute 99 is 0)` : null;
    case 'cuda-hmm':
      if (a.pageableMemoryAccess === 1) return null;
      return `${info.name}: no pageable memory access (attribute 88 PAGEABLE_MEMORY_ACCESS is ${a.pageableMemoryAccess}): ` +
        `HMM needs the open kernel modules, a kernel with HMM_MIRROR and DEVICE_PRIVATE, and nvidia-uvm with HMM on` +
        `${hmmGapNote()}`;
    case 'cuda-managed':
      return a.managedMemory === 1 ? null : `${info.name}: no managed memory (attribute 83 is ${a.managedMemory})`;
    case 'cuda-device':
      return null;
  }
}

let gapNote: string | undefined;
function hmmGapNote(): string {
  gapNote ??= ((g) => (g ? ` (${g})` : ''))(hmmKernelGap());
  return gapNote;
}

function checkWords(name: string, offset: number, length: number, size: number): void {
  if (!Number.isSafeInteger(offset) || offset < 0 || offset % 8) throw invalidArg(`${name}.offset`, offset, 'must be a non-negative multiple of 8');
  if (!Number.isSafeInteger(length) || length <= 0 || length % 8) throw invalidArg(`${name}.length`, length, 'must be a positive multiple of 8');
  if (offset + length > size) throw invalidArg(`${name}.length`, length, `offset + length must be at most the buffer's ${size} bytes`);
}

/** A buffer the GPU can reach, by one of the four kinds (the mirror interface's DeviceBuffer). */
export class CudaBuffer implements DeviceBuffer {
  readonly kind: CudaMirrorKind;
  /** The CPU's address (for managed and device memory: the allocation). */
  readonly address: bigint;
  /** The address the GPU uses. */
  readonly gpuAddress: bigint;
  readonly size: number;
  /** cuMemHostRegister's time, ns (cuda-pinned), else 0. */
  readonly registerNs: number;
  #closed = false;
  #release: () => void;

  constructor(init: { kind: CudaMirrorKind; address: bigint; gpuAddress: bigint; size: number; registerNs: number; release: () => void }) {
    this.kind = init.kind;
    this.address = init.address;
    this.gpuAddress = init.gpuAddress;
    this.size = init.size;
    this.registerNs = init.registerNs;
    this.#release = init.release;
  }

  get closed(): boolean {
    return this.#closed;
  }

  #live(): void {
    if (this.#closed) throw invalidState(`${this.kind} buffer at 0x${this.address.toString(16)} is closed`);
  }

  /** The bytes the GPU read from [offset, offset + length). */
  readSync(offset = 0, length = this.size - offset): Uint8Array {
    this.#live();
    checkWords('read', offset, length, this.size);
    return native.cudaGpuRead(this.gpuAddress + BigInt(offset), length).data;
  }

  /** As readSync, with the kernel's time by events. */
  readTimed(offset = 0, length = this.size - offset): { data: Uint8Array; gpuMs: number } {
    this.#live();
    checkWords('read', offset, length, this.size);
    return native.cudaGpuRead(this.gpuAddress + BigInt(offset), length);
  }

  async read(offset = 0, length = this.size - offset): Promise<Uint8Array> {
    return this.readSync(offset, length);
  }

  /** The GPU writes 64-bit word i of the range as pattern + i; the kernel's ms. */
  fill(pattern: bigint, offset = 0, length = this.size - offset): number {
    this.#live();
    checkWords('fill', offset, length, this.size);
    return native.cudaGpuWrite(this.gpuAddress + BigInt(offset), length, pattern);
  }

  /** The GPU reads every word of the range: their xor, and the kernel's ms. */
  xor(offset = 0, length = this.size - offset): { xor: bigint; gpuMs: number } {
    this.#live();
    checkWords('xor', offset, length, this.size);
    return native.cudaGpuXor(this.gpuAddress + BigInt(offset), length);
  }

  /** One byte read per `stride` bytes by at most `threads` GPU threads: the first-touch path. */
  touch(stride: number, threads: number, offset = 0, length = this.size - offset): { sum: bigint; gpuMs: number } {
    this.#live();
    if (!Number.isSafeInteger(stride) || stride <= 0) throw invalidArg('touch.stride', stride, 'must be a positive integer');
    if (!Number.isSafeInteger(threads) || threads <= 0) throw invalidArg('touch.threads', threads, 'must be a positive integer');
    const pages = Math.floor(length / stride);
    if (pages <= 0 || offset < 0 || offset + length > this.size) throw invalidArg('touch.length', length, `must hold at least one stride within the buffer's ${this.size} bytes`);
    return native.cudaGpuTouch(this.gpuAddress + BigInt(offset), pages, stride, threads);
  }

  /** Managed and HMM memory: move the range to the GPU or back to the host (waited for); ns. */
  prefetch(toDevice: boolean): number {
    this.#live();
    return native.cudaPrefetch(this.gpuAddress, this.size, toDevice);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#release();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

function rangeOf(range: MirrorRange, name: string): { address: bigint; length: number } {
  const address = BigInt(range.address);
  if (address <= 0n) throw invalidArg(`${name}.address`, range.address, 'must be a user address');
  if (!Number.isSafeInteger(range.length) || range.length <= 0) throw invalidArg(`${name}.length`, range.length, 'must be a positive integer');
  return { address, length: range.length };
}

/** One open GPU (its primary context); close() releases it. */
export class CudaDevice implements Disposable {
  readonly info: CudaDeviceInfo;
  #closed = false;

  private constructor(info: CudaDeviceInfo) {
    this.info = info;
  }

  /** Opens device `ordinal`; throws ERR_CUDA_UNAVAILABLE with the reason when there is none. */
  static open(ordinal = 0): CudaDevice {
    const a = cudaAvailability();
    const info = a.devices[ordinal];
    if (!a.ok || !info) {
      const err = invalidState(`no CUDA device ${ordinal}: ${a.reason ?? `${a.devices.length} device(s)`}`) as Error & { code: string };
      err.code = 'ERR_CUDA_UNAVAILABLE';
      throw err;
    }
    native.cudaOpen(ordinal);
    return new CudaDevice(info);
  }

  get closed(): boolean {
    return this.#closed;
  }

  #live(): void {
    if (this.#closed) throw invalidState('the CUDA device is closed');
  }

  /** Why `kind` cannot run on this device, or null. */
  unsupported(kind: CudaMirrorKind): string | null {
    return cudaKindUnsupported(kind, this.info);
  }

  memInfo(): { free: bigint; total: bigint } {
    this.#live();
    return native.cudaMemInfo();
  }

  /** cuda-pinned: cuMemHostRegister(DEVICEMAP | PORTABLE [| READ_ONLY]) of a user range. */
  pin(range: MirrorRange, options: { readOnly?: boolean } = {}): CudaBuffer {
    this.#live();
    const { address, length } = rangeOf(range, 'range');
    const flags = HOST_REGISTER.DEVICEMAP | HOST_REGISTER.PORTABLE | (options.readOnly ? HOST_REGISTER.READ_ONLY : 0);
    const registerNs = native.cudaHostRegister(address, length, flags);
    let gpuAddress: bigint;
    try {
      gpuAddress = native.cudaHostDevicePointer(address);
    } catch (e) {
      native.cudaHostUnregister(address);
      throw e;
    }
    return new CudaBuffer({ kind: 'cuda-pinned', address, gpuAddress, size: length, registerNs, release: () => void native.cudaHostUnregister(address) });
  }

  /** cuda-hmm: the range as it is, at its CPU address (pageable memory access). */
  mirror(range: MirrorRange): CudaBuffer {
    this.#live();
    const why = this.unsupported('cuda-hmm');
    if (why) {
      const err = invalidState(why) as Error & { code: string };
      err.code = 'ERR_CUDA_UNSUPPORTED';
      throw err;
    }
    const { address, length } = rangeOf(range, 'range');
    return new CudaBuffer({ kind: 'cuda-hmm', address, gpuAddress: address, size: length, registerNs: 0, release: () => {} });
  }

  /** cuda-managed (cuMemAllocManaged) or cuda-device (cuMemAlloc) memory of `length` bytes. */
  allocate(kind: 'cuda-managed' | 'cuda-device', length: number): CudaBuffer {
    this.#live();
    if (!Number.isSafeInteger(length) || length <= 0) throw invalidArg('length', length, 'must be a positive integer');
    const ptr = native.cudaMemAlloc(length, kind === 'cuda-managed');
    return new CudaBuffer({ kind, address: ptr, gpuAddress: ptr, size: length, registerNs: 0, release: () => native.cudaMemFree(ptr) });
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    native.cudaClose();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/**
 * The CPU's view of managed memory (a Uint8Array over the allocation), for
 * `use` and nothing longer: the view is detached before it returns.
 */
export function withManagedView<T>(buf: CudaBuffer, use: (view: Uint8Array) => T): T {
  if (buf.kind !== 'cuda-managed') throw invalidArg('buf.kind', buf.kind, "must be 'cuda-managed'");
  const v = native.newView(buf.address, buf.size, false);
  try {
    return use(new Uint8Array(v.buffer));
  } finally {
    native.releaseView(v.buffer, v.record);
  }
}
