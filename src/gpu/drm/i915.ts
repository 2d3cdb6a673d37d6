// i915: DRM_IOCTL_I915_GEM_USERPTR (native/i915.cc). The driver always
// registers an mmu_interval_notifier; PROBE (I915_PARAM_HAS_USERPTR_PROBE,
// 5.16 and later) checks at creation that the range is ordinary memory.
import { native } from '../../addon.js';
import { invalidArg } from '../../errors.js';
import { isSyscallError } from '../../errors.js';
import type { MirrorRange } from '../../mirror/types.js';
import { checkUserRange, DrmBackendBase, type DrmRegistration } from './common.js';

export const I915 = native.i915Constants;

export interface I915UserptrOptions {
  readOnly?: boolean;
  /** I915_USERPTR_PROBE: EFAULT at creation for a range that is not ordinary memory. Default: when the kernel has it. */
  probe?: boolean;
  /** Raw I915_USERPTR_* bits instead of readOnly/probe (unknown bits go to the driver). */
  flags?: number;
}

export class I915Backend extends DrmBackendBase {
  readonly name = 'i915' as const;
  #probe: boolean | undefined;

  /** I915_PARAM_HAS_USERPTR_PROBE; false where the kernel does not know the parameter (EINVAL). */
  hasUserptrProbe(): boolean {
    if (this.#probe === undefined) {
      try {
        this.#probe = native.i915.getParam(this.fd, I915.I915_PARAM_HAS_USERPTR_PROBE) !== 0;
      } catch (e) {
        if (!isSyscallError(e) || e.code !== 'EINVAL') throw e;
        this.#probe = false;
      }
    }
    return this.#probe;
  }

  userptr(range: MirrorRange, options: I915UserptrOptions = {}): DrmRegistration {
    const { address, length } = checkUserRange(range);
    let flags = options.flags;
    if (flags === undefined) {
      const probe = options.probe ?? this.hasUserptrProbe();
      flags = (options.readOnly ? I915.I915_USERPTR_READ_ONLY : 0) | (probe ? I915.I915_USERPTR_PROBE : 0);
    } else if (!Number.isInteger(flags) || flags < 0 || flags > 0xffffffff) {
      throw invalidArg('options.flags', flags, 'must be a 32-bit unsigned integer');
    }
    const fd = this.fd;
    const r = native.i915.gemUserptr(fd, address, length, flags >>> 0);
    return this.track({ kind: 'gem-userptr', address, length, id: r.handle, ns: r.ns }, () => native.i915.gemClose(fd, r.handle));
  }

  register(range: MirrorRange): DrmRegistration {
    return this.userptr(range);
  }
}
