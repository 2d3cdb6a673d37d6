// amdgpu: DRM_IOCTL_AMDGPU_GEM_USERPTR (native/amdgpu.cc). The default flags
// are those of libdrm's amdgpu_create_bo_from_user_mem and Mesa's radv:
// REGISTER (the mmu_interval_notifier that makes the object follow munmap and
// mprotect; without it the driver refuses a writable object with EACCES),
// VALIDATE (the pages are faulted in at creation, so errors show here) and
// ANONONLY (file-backed memory is refused).
import { native } from '../../addon.js';
import { invalidArg } from '../../errors.js';
import type { MirrorRange } from '../../mirror/types.js';
import { checkUserRange, DrmBackendBase, type DrmRegistration } from './common.js';

export const AMDGPU = native.amdgpuConstants;

export const AMDGPU_DEFAULT_USERPTR_FLAGS =
  AMDGPU.AMDGPU_GEM_USERPTR_REGISTER | AMDGPU.AMDGPU_GEM_USERPTR_VALIDATE | AMDGPU.AMDGPU_GEM_USERPTR_ANONONLY;

export interface AmdgpuUserptrOptions {
  /** AMDGPU_GEM_USERPTR_* bits; unknown bits go to the driver (its EINVAL is the answer). */
  flags?: number;
}

export class AmdgpuBackend extends DrmBackendBase {
  readonly name = 'amdgpu' as const;

  /** A GEM object over the range; release() closes the handle (and drops the notifier). */
  userptr(range: MirrorRange, options: AmdgpuUserptrOptions = {}): DrmRegistration {
    const { address, length } = checkUserRange(range);
    const flags = options.flags ?? AMDGPU_DEFAULT_USERPTR_FLAGS;
    if (!Number.isInteger(flags) || flags < 0 || flags > 0xffffffff) throw invalidArg('options.flags', flags, 'must be a 32-bit unsigned integer');
    const fd = this.fd;
    const r = native.amdgpu.gemUserptr(fd, address, length, flags);
    return this.track({ kind: 'gem-userptr', address, length, id: r.handle, ns: r.ns }, () => native.amdgpu.gemClose(fd, r.handle));
  }

  register(range: MirrorRange): DrmRegistration {
    return this.userptr(range);
  }
}
