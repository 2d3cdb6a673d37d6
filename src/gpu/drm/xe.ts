// xe: user memory through VM_BIND (native/xe.cc). register() binds the range
// with DRM_XE_VM_BIND_OP_MAP_USERPTR at the same GPU address in a VM of its
// own (created on first use); cpuAddrMirror() reserves a range of a
// fault-mode VM (LR_MODE | FAULT_MODE) as a mirror of the CPU's page tables,
// DRM_XE_VM_BIND_FLAG_CPU_ADDR_MIRROR, Linux 6.15 and later.
import { native } from '../../addon.js';
import { invalidArg } from '../../errors.js';
import type { MirrorRange } from '../../mirror/types.js';
import type { XeConfigRaw } from '../../native.js';
import { checkUserRange, DrmBackendBase, type DrmRegistration } from './common.js';

export const XE = native.xeConstants;

export interface XeUserptrOptions {
  /**
   * The PAT entry of the mapping: the kernel wants a 1-way or 2-way coherent
   * one for userptr (EINVAL otherwise), and which index that is depends on
   * the platform (IGT's intel_get_pat_idx_wb): 0 is write-back, and so
   * coherent, on the platforms before Meteor Lake; on newer ones it may not
   * be, and the bind gets EINVAL: pass that platform's index. Default 0.
   * Not checked on hardware.
   */
  patIndex?: number;
  readOnly?: boolean;
}

function patIndexOf(v: number | undefined): number {
  const pat = v ?? 0;
  if (!Number.isInteger(pat) || pat < 0 || pat > 0xffff) throw invalidArg('options.patIndex', pat, 'must be an integer in [0, 65535]');
  return pat;
}

export class XeBackend extends DrmBackendBase {
  readonly name = 'xe' as const;
  #vm = 0;
  #faultVm = 0;

  /** DRM_XE_DEVICE_QUERY_CONFIG. */
  config(): XeConfigRaw {
    return native.xe.queryConfig(this.fd);
  }

  /** Whether the device says it can mirror CPU addresses (false where the kernel predates the flag). */
  hasCpuAddrMirror(): boolean {
    const f = this.config().flags;
    return f !== null && (f & BigInt(XE.DRM_XE_QUERY_CONFIG_FLAG_HAS_CPU_ADDR_MIRROR)) !== 0n;
  }

  /** MAP_USERPTR at the range's own address in this backend's VM; release() unbinds it. */
  userptr(range: MirrorRange, options: XeUserptrOptions = {}): DrmRegistration {
    const { address, length } = checkUserRange(range);
    const pat = patIndexOf(options.patIndex);
    const fd = this.fd;
    if (!this.#vm) this.#vm = native.xe.vmCreate(fd, 0);
    const vm = this.#vm;
    const flags = options.readOnly ? XE.DRM_XE_VM_BIND_FLAG_READONLY : 0;
    const ns = native.xe.bindUserptr(fd, vm, address, address, length, flags, pat);
    return this.track({ kind: 'vm-bind-userptr', address, length, id: vm, ns }, () => native.xe.unbind(fd, vm, address, length));
  }

  /** CPU_ADDR_MIRROR bind of the range in a fault-mode VM (created on first use); release() unbinds it. */
  cpuAddrMirror(range: MirrorRange, options: Pick<XeUserptrOptions, 'patIndex'> = {}): DrmRegistration {
    const { address, length } = checkUserRange(range);
    const pat = patIndexOf(options.patIndex);
    const fd = this.fd;
    if (!this.#faultVm) this.#faultVm = native.xe.vmCreate(fd, XE.DRM_XE_VM_CREATE_FLAG_LR_MODE | XE.DRM_XE_VM_CREATE_FLAG_FAULT_MODE);
    const vm = this.#faultVm;
    const ns = native.xe.bindCpuAddrMirror(fd, vm, address, length, 0, pat);
    return this.track({ kind: 'cpu-addr-mirror', address, length, id: vm, ns }, () => native.xe.unbind(fd, vm, address, length));
  }

  register(range: MirrorRange): DrmRegistration {
    return this.userptr(range);
  }

  protected override onClose(): void {
    const fd = this.fd;
    for (const vm of [this.#vm, this.#faultVm]) if (vm) native.xe.vmDestroy(fd, vm);
    this.#vm = this.#faultVm = 0;
  }
}
