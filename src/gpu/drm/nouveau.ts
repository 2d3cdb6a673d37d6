// nouveau: shared virtual memory (native/nouveau.cc). The first use turns
// the client's GPU address space into an HMM mirror of this process
// (SVM_INIT), with an unmanaged window for the client's own objects that we
// reserve as a PROT_NONE mapping, so that no CPU buffer can land in it.
// register() migrates the range to VRAM (SVM_BIND MIGRATE -> GPU_VRAM): the
// GPU's copy engine reads every page, and the CPU's next access faults them
// back. The uapi has no unbind: the mirror lasts as long as the fd, and
// release() only forgets the range.
import { native } from '../../addon.js';
import { syscallErrorOf } from './errno.js';
import type { MirrorRange } from '../../mirror/types.js';
import { checkUserRange, DrmBackendBase, type DrmRegistration } from './common.js';

export const NOUVEAU = native.nouveauConstants;

/** The unmanaged window SVM_INIT gets: 512 MiB. */
export const NOUVEAU_UNMANAGED_SIZE = 512 * 1024 * 1024;

export class NouveauBackend extends DrmBackendBase {
  readonly name = 'nouveau' as const;
  #window: bigint | null = null;
  #initNs = 0;

  /** SVM_INIT once per fd; the ns it took (0 when already done). */
  svmInit(): number {
    if (this.#window !== null) return 0;
    const mm = native.mmConstants;
    const fd = this.fd;
    const w = native.mmap(0, NOUVEAU_UNMANAGED_SIZE, mm.PROT_NONE, mm.MAP_PRIVATE | mm.MAP_ANONYMOUS | mm.MAP_NORESERVE, -1, 0);
    try {
      this.#initNs = native.nouveau.svmInit(fd, w, NOUVEAU_UNMANAGED_SIZE);
    } catch (e) {
      native.munmap(w, NOUVEAU_UNMANAGED_SIZE);
      throw e;
    }
    this.#window = w;
    return this.#initNs;
  }

  /** SVM_BIND MIGRATE to VRAM; a non-zero result from the driver throws as its errno. */
  migrateToVram(range: MirrorRange): DrmRegistration {
    const { address, length } = checkUserRange(range);
    this.svmInit();
    const r = native.nouveau.svmMigrateToVram(this.fd, address, length);
    if (r.result !== 0) throw syscallErrorOf(-r.result, 'ioctl(DRM_IOCTL_NOUVEAU_SVM_BIND) result', { va_start: address, npages: length / 4096 });
    return this.track({ kind: 'svm-migrate', address, length, id: 0, ns: r.ns }, () => {});
  }

  register(range: MirrorRange): DrmRegistration {
    return this.migrateToVram(range);
  }

  protected override afterClose(): void {
    // The window stays reserved as long as the fd (the mirror) is open.
    if (this.#window !== null) native.munmap(this.#window, NOUVEAU_UNMANAGED_SIZE);
    this.#window = null;
  }
}
