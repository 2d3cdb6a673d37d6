// What every DRM hardware backend shares: the range check that runs before
// any ioctl, the registration record, the backend interface and its errors.
import { closeSync } from 'node:fs';
import { invalidState, invalidType } from '../../errors.js';
import { checkAddress, checkNoOverflow, checkSize, PAGE_SIZE } from '../../memory/validate.js';
import type { MirrorRange } from '../../mirror/types.js';

/** The DRM drivers whose userptr (or SVM) interface mirrorlab drives, by DRM_IOCTL_VERSION name. */
export const DRM_BACKENDS = ['amdgpu', 'i915', 'xe', 'nouveau'] as const;
export type DrmBackendName = (typeof DRM_BACKENDS)[number];

/** The uapi each backend uses, for listings and skip reasons. */
export const DRM_BACKEND_UAPI: Readonly<Record<DrmBackendName, string>> = {
  amdgpu: 'DRM_IOCTL_AMDGPU_GEM_USERPTR',
  i915: 'DRM_IOCTL_I915_GEM_USERPTR',
  xe: 'DRM_XE_VM_BIND_OP_MAP_USERPTR, DRM_XE_VM_BIND_FLAG_CPU_ADDR_MIRROR',
  nouveau: 'DRM_NOUVEAU_SVM_INIT, DRM_NOUVEAU_SVM_BIND',
};

export function isDrmBackendName(driver: string): driver is DrmBackendName {
  return (DRM_BACKENDS as readonly string[]).includes(driver);
}

/**
 * A user range every backend accepts: page-aligned address, length a positive
 * multiple of the page size, address + length within the 64-bit space. Throws
 * ERR_INVALID_ARG_TYPE, ERR_INVALID_ARG_VALUE or ERR_OUT_OF_RANGE before any ioctl.
 */
export function checkUserRange(range: MirrorRange, name = 'range'): { address: bigint; length: number } {
  if (range === null || typeof range !== 'object') throw invalidType(name, range, 'an object { address, length }');
  const address = checkAddress(`${name}.address`, range.address, PAGE_SIZE);
  const length = checkSize(`${name}.length`, range.length, { align: PAGE_SIZE, nonZero: true });
  checkNoOverflow(address, length, `${name}.length`);
  return { address, length };
}

/** One registered range: release() undoes the registration (GEM_CLOSE, unbind); idempotent. */
export interface DrmRegistration {
  readonly backend: DrmBackendName;
  /** 'gem-userptr', 'vm-bind-userptr', 'cpu-addr-mirror', 'svm-migrate' */
  readonly kind: string;
  readonly address: bigint;
  readonly length: number;
  /** The GEM handle (amdgpu, i915), the VM id (xe), 0 (nouveau: the mirror is the client's). */
  readonly id: number;
  /** The registration ioctl's time, ns. */
  readonly ns: number;
  release(): void;
}

/** An open render node with a userptr interface. */
export interface DrmUserptrBackend extends Disposable {
  readonly name: DrmBackendName;
  readonly path: string;
  readonly fd: number;
  /** The default registration of a range on this driver (see docs/drm-hardware.md). */
  register(range: MirrorRange): DrmRegistration;
  close(): void;
}

/** A DRM node whose driver has no interface mirrorlab drives (nvidia-drm, virtio_gpu, ...), or no node at all. */
export class DrmBackendUnavailableError extends Error {
  readonly code = 'ERR_DRM_NO_USERPTR';
  readonly path: string;
  readonly driver: string | null;
  constructor(path: string, driver: string | null, why: string) {
    super(`${path}: ${why}`);
    this.name = 'DrmBackendUnavailableError';
    this.path = path;
    this.driver = driver;
  }
}

/**
 * The fd and the live registrations of a backend. The fd is a render node the
 * backend opened (closed with it) or one it was given (left open: tests hand
 * it /dev/null to see the checks and the errors without a GPU).
 */
export abstract class DrmBackendBase implements DrmUserptrBackend {
  abstract readonly name: DrmBackendName;
  readonly path: string;
  readonly #fd: number;
  readonly #owned: boolean;
  #closed = false;
  readonly #live = new Set<DrmRegistration>();

  constructor(fd: number, path: string, options: { ownsFd?: boolean } = {}) {
    if (!Number.isSafeInteger(fd) || fd < 0) throw invalidType('fd', fd, 'a file descriptor');
    this.#fd = fd;
    this.path = path;
    this.#owned = options.ownsFd ?? true;
  }

  get fd(): number {
    if (this.#closed) throw invalidState(`${this.path} (${this.name}) is closed`);
    return this.#fd;
  }

  get closed(): boolean {
    return this.#closed;
  }

  abstract register(range: MirrorRange): DrmRegistration;

  /** A registration whose release runs `undo` once and forgets it. */
  protected track(r: Omit<DrmRegistration, 'release' | 'backend'>, undo: () => void): DrmRegistration {
    let done = false;
    const reg: DrmRegistration = {
      ...r,
      backend: this.name,
      release: () => {
        if (done) return;
        done = true;
        this.#live.delete(reg);
        if (!this.#closed) undo();
      },
    };
    this.#live.add(reg);
    return reg;
  }

  /** Driver state to drop before the fd closes (xe's VMs). */
  protected onClose(): void {}

  /** Process state to drop once the fd is closed (nouveau's unmanaged window). */
  protected afterClose(): void {}

  close(): void {
    if (this.#closed) return;
    try {
      for (const r of [...this.#live]) r.release();
      this.onClose();
    } finally {
      this.#closed = true;
      if (this.#owned) closeSync(this.#fd);
      this.afterClose();
    }
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
