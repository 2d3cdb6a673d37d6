// The addon's exports against their types (src/native.ts), both ways:
// `declared` must satisfy Shape<Native>, so tsc (npm run typecheck) fails when
// the interface has a name this list lacks or the other way round; the test
// then fails when the loaded addon exports a name, a kind (function, number,
// namespace object) or a namespace member the list does not have, or lacks one
// it has. A native function added without a type, or a typed one the addon
// does not export, fails CI either way.
import { describe, expect, it } from 'vitest';
import { native } from '../../src/addon.js';
import type { Native } from '../../src/native.js';

const F = 'function';
const N = 'number';
const S = 'string';

type Shape<T> = {
  [K in keyof T]-?: T[K] extends (...args: never[]) => unknown ? typeof F : T[K] extends number ? typeof N : Shape<T[K]>;
};

// In the order of the Init functions (native/addon.cc) and their exports.
const declared = {
  mmap: F, munmap: F, mprotect: F, madvise: F, mremap: F, memfdCreate: F, newView: F, releaseView: F,
  movePages: F, mbind: F, checkMapped: F,
  mmConstants: {
    PROT_NONE: N, PROT_READ: N, PROT_WRITE: N, PROT_EXEC: N, MAP_SHARED: N, MAP_PRIVATE: N, MAP_FIXED: N,
    MAP_FIXED_NOREPLACE: N, MAP_ANONYMOUS: N, MAP_POPULATE: N, MAP_NORESERVE: N, MAP_HUGETLB: N,
    MAP_HUGE_SHIFT: N, MAP_LOCKED: N, MADV_NORMAL: N, MADV_RANDOM: N, MADV_SEQUENTIAL: N, MADV_WILLNEED: N,
    MADV_DONTNEED: N, MADV_FREE: N, MADV_REMOVE: N, MADV_DONTFORK: N, MADV_DOFORK: N, MADV_MERGEABLE: N,
    MADV_UNMERGEABLE: N, MADV_HUGEPAGE: N, MADV_NOHUGEPAGE: N, MADV_COLD: N, MADV_PAGEOUT: N,
    MADV_POPULATE_READ: N, MADV_POPULATE_WRITE: N, MADV_COLLAPSE: N, MREMAP_MAYMOVE: N, MREMAP_FIXED: N,
    MREMAP_DONTUNMAP: N, MFD_CLOEXEC: N, MFD_ALLOW_SEALING: N, MFD_HUGETLB: N, MFD_HUGE_SHIFT: N,
    MPOL_DEFAULT: N, MPOL_PREFERRED: N, MPOL_BIND: N, MPOL_INTERLEAVE: N, MPOL_LOCAL: N, MPOL_MF_STRICT: N,
    MPOL_MF_MOVE: N, MPOL_MF_MOVE_ALL: N, PAGE_SIZE: N,
  },
  forkRun: F, forkResume: F,
  forkConstants: {
    OP_WRITE: N, OP_READ: N, OP_MADVISE: N, OP_MPROTECT: N, OP_MUNMAP: N, OP_SLEEP: N, OP_WAIT: N, OP_FILL: N,
    OP_IOCTL: N,
  },
  pageStateRaw: F, pagemapScan: F, pageSummary: F,
  pagemapConstants: {
    PAGE_IS_WPALLOWED: N, PAGE_IS_WRITTEN: N, PAGE_IS_FILE: N, PAGE_IS_PRESENT: N, PAGE_IS_SWAPPED: N,
    PAGE_IS_PFNZERO: N, PAGE_IS_HUGE: N, PAGE_IS_SOFT_DIRTY: N, PAGE_IS_GUARD: N,
  },
  uffdOpen: F, uffdClose: F, uffdApi: F, uffdRegister: F, uffdUnregister: F, uffdWake: F, uffdCopy: F,
  uffdZeropage: F, uffdWriteprotect: F, uffdContinue: F, uffdMove: F, uffdPoison: F, uffdRead: F,
  uffdDeliveryStart: F, uffdDeliveryRef: F, uffdReaderStop: F, uffdPollStart: F, uffdPollStop: F, uffdPollRef: F, uffdServerStart: F, uffdServerStats: F,
  uffdServerStop: F,
  uffdConstants: {
    O_CLOEXEC: N, O_NONBLOCK: N, UFFD_USER_MODE_ONLY: N, UFFD_API: N, UFFD_FEATURE_PAGEFAULT_FLAG_WP: N,
    UFFD_FEATURE_EVENT_FORK: N, UFFD_FEATURE_EVENT_REMAP: N, UFFD_FEATURE_EVENT_REMOVE: N,
    UFFD_FEATURE_MISSING_HUGETLBFS: N, UFFD_FEATURE_MISSING_SHMEM: N, UFFD_FEATURE_EVENT_UNMAP: N,
    UFFD_FEATURE_SIGBUS: N, UFFD_FEATURE_THREAD_ID: N, UFFD_FEATURE_MINOR_HUGETLBFS: N,
    UFFD_FEATURE_MINOR_SHMEM: N, UFFD_FEATURE_EXACT_ADDRESS: N, UFFD_FEATURE_WP_HUGETLBFS_SHMEM: N,
    UFFD_FEATURE_WP_UNPOPULATED: N, UFFD_FEATURE_POISON: N, UFFD_FEATURE_WP_ASYNC: N, UFFD_FEATURE_MOVE: N,
    _UFFDIO_REGISTER: N, _UFFDIO_UNREGISTER: N, _UFFDIO_WAKE: N, _UFFDIO_COPY: N, _UFFDIO_ZEROPAGE: N,
    _UFFDIO_MOVE: N, _UFFDIO_WRITEPROTECT: N, _UFFDIO_CONTINUE: N, _UFFDIO_POISON: N, _UFFDIO_API: N,
    UFFDIO_REGISTER_MODE_MISSING: N, UFFDIO_REGISTER_MODE_WP: N, UFFDIO_REGISTER_MODE_MINOR: N,
    UFFDIO_COPY_MODE_DONTWAKE: N, UFFDIO_COPY_MODE_WP: N, UFFDIO_ZEROPAGE_MODE_DONTWAKE: N,
    UFFDIO_WRITEPROTECT_MODE_WP: N, UFFDIO_WRITEPROTECT_MODE_DONTWAKE: N, UFFDIO_CONTINUE_MODE_DONTWAKE: N,
    UFFDIO_CONTINUE_MODE_WP: N, UFFDIO_MOVE_MODE_DONTWAKE: N, UFFDIO_MOVE_MODE_ALLOW_SRC_HOLES: N,
    UFFDIO_POISON_MODE_DONTWAKE: N, UFFD_EVENT_PAGEFAULT: N, UFFD_EVENT_FORK: N, UFFD_EVENT_REMAP: N,
    UFFD_EVENT_REMOVE: N, UFFD_EVENT_UNMAP: N, UFFD_PAGEFAULT_FLAG_WRITE: N, UFFD_PAGEFAULT_FLAG_WP: N,
    UFFD_PAGEFAULT_FLAG_MINOR: N, POLICY_COPY: N, POLICY_ZEROPAGE: N, POLL_HEADER: N, UFFD_MSG_SIZE: N,
  },
  threadAccess: F, forkAccess: F, gettid: F, monotonicNs: F, faultRun: F, faultTouch: F, clockOverhead: F,
  perfProbe: F, clearTiming: F, timedMadvise: F, timedMunmap: F, drmVersion: F, kvmProbe: F,
  mirrordrm: {
    version: F, gemClose: F, userptr: F, userptrAsync: F, access: F, accessAsync: F, accessAddr: F,
    accessAddrAsync: F, snapshot: F, invalRead: F, stats: F, setBehaviour: F, ioctl: F, pollAsync: F,
    timeUserptr: F, timeAccess: F, migrate: F, exclusive: F, deviceInfo: F, timeMigrate: F, accessStorm: F,
    layout: {
      drm_mirrordrm_userptr: { sizeof: N, address: N, size: N, flags: N, handle: N },
      drm_mirrordrm_access: { sizeof: N, handle: N, flags: N, offset: N, length: N, data: N, populates: N, retries: N },
      drm_mirrordrm_page: { sizeof: N, dev_pfn: N, cpu_pfn: N, dev_flags: N, cpu_flags: N },
      drm_mirrordrm_snapshot: { sizeof: N, handle: N, flags: N, first_page: N, count: N, pages: N },
      drm_mirrordrm_inval_record: {
        sizeof: N, seq: N, start: N, end: N, timestamp_ns: N, duration_ns: N, pages_dropped: N,
        pages_downgraded: N, handle: N, event: N, flags: N, pid: N, owner: N, pad: N, finish_ns: N,
      },
      drm_mirrordrm_inval_read: { sizeof: N, records: N, count: N, flags: N, lost: N, lost_total: N, pending: N },
      drm_mirrordrm_counters: {
        sizeof: N, objects: N, pages: N, pages_pinned: N, pages_valid: N, gup_calls: N, gup_pages: N,
        hmm_range_fault_calls: N, hmm_range_fault_ebusy: N, read_retry: N, populates: N, revalidations: N,
        device_accesses: N, device_bytes: N, invalidations: N, would_block: N, pages_dropped: N,
        pages_downgraded: N, log_lost: N, by_event: N, pages_to_device: N, pages_to_ram: N,
        own_migrations: N,
      },
      drm_mirrordrm_migrate: { sizeof: N, handle: N, flags: N, offset: N, length: N, migrated: N, compound: N, skipped: N },
      drm_mirrordrm_exclusive: { sizeof: N, handle: N, flags: N, offset: N, length: N, pages: N },
      drm_mirrordrm_device_info: {
        sizeof: N, index: N, owner: N, caps: N, pad: N, devmem_pages: N, devmem_free: N, devmem_pfn: N,
        to_device: N, to_ram: N, cpu_faults: N, fault_pages: N, folio_frees: N, folio_splits: N,
        thp_allocs: N, alloc_failures: N, evicted: N,
      },
      drm_mirrordrm_stats: { sizeof: N, handle: N, flags: N, counters: N, size: N, pad: N },
      drm_mirrordrm_behaviour: { sizeof: N, handle: N, flags: N, fence_wait_ns: N, populate_delay_ns: N },
    },
  },
  mirrordrmConstants: {
    MIRRORDRM_USERPTR_MODE_MASK: N, MIRRORDRM_USERPTR_MODE_GUP: N, MIRRORDRM_USERPTR_MODE_GUP_LONGTERM: N,
    MIRRORDRM_USERPTR_MODE_GUP_GET: N, MIRRORDRM_USERPTR_MODE_HMM: N, MIRRORDRM_USERPTR_MODE_SVM: N, MIRRORDRM_USERPTR_READ_ONLY: N,
    MIRRORDRM_USERPTR_POPULATE: N, MIRRORDRM_USERPTR_GUP_REPIN: N, MIRRORDRM_USERPTR_FLAGS: N,
    MIRRORDRM_USERPTR_MAX_SIZE: N, MIRRORDRM_ACCESS_READ: N, MIRRORDRM_ACCESS_WRITE: N,
    MIRRORDRM_PAGE_VALID: N, MIRRORDRM_PAGE_WRITE: N, MIRRORDRM_PAGE_ZERO: N, MIRRORDRM_PAGE_ERROR: N,
    MIRRORDRM_PAGE_STALE: N, MIRRORDRM_PAGE_SAME: N, MIRRORDRM_PAGE_ORDER_SHIFT: N,
    MIRRORDRM_PAGE_ORDER_MASK: N, MIRRORDRM_RECORD_BLOCKABLE: N, MIRRORDRM_RECORD_WOULD_BLOCK: N,
    MIRRORDRM_RECORD_READ_ONLY: N, MIRRORDRM_RECORD_DOWNGRADED: N, MIRRORDRM_RECORD_KEPT_STALE: N,
    MIRRORDRM_RECORD_FENCE_WAIT: N, MIRRORDRM_OWNER_NONE: N, MIRRORDRM_OWNER_FOREIGN: N,
    MIRRORDRM_RECORD_OWN_MIGRATION: N, MIRRORDRM_PAGE_DEVICE_PRIVATE: N, MIRRORDRM_PAGE_EXCLUSIVE: N,
    MIRRORDRM_PAGE_OWNER_SHIFT: N, MIRRORDRM_PAGE_OWNER_MASK: N, MIRRORDRM_MIGRATE_TO_DEVICE: N,
    MIRRORDRM_MIGRATE_TO_RAM: N, MIRRORDRM_MIGRATE_COMPOUND: N, MIRRORDRM_MIGRATE_FLAGS: N,
    MIRRORDRM_CAP_DEVICE_PRIVATE: N, MIRRORDRM_CAP_MIGRATE_COMPOUND: N, MIRRORDRM_CAP_EXCLUSIVE: N,
    DRM_MIRRORDRM_MIGRATE: N, DRM_MIRRORDRM_EXCLUSIVE: N, DRM_MIRRORDRM_DEVICE_INFO: N,
    DRM_IOCTL_MIRRORDRM_MIGRATE: N, DRM_IOCTL_MIRRORDRM_EXCLUSIVE: N, DRM_IOCTL_MIRRORDRM_DEVICE_INFO: N,
    MIRRORDRM_USERPTR_TWO_PASS: N, MIRRORDRM_RECORD_TWO_PASS: N, MIRRORDRM_RECORD_FINISH_FALLBACK: N,
    MIRRORDRM_BEHAVIOUR_RO_DOWNGRADE: N, MIRRORDRM_FENCE_WAIT_MAX_NS: N,
    MIRRORDRM_POPULATE_DELAY_MAX_NS: N, MIRRORDRM_ACCESS_FLAGS: N, MIRRORDRM_BEHAVIOUR_FLAGS: N,
    MIRRORDRM_IOCTL_BASE: N, MIRRORDRM_COMMAND_BASE: N, DRM_MIRRORDRM_USERPTR: N, DRM_MIRRORDRM_ACCESS: N,
    DRM_MIRRORDRM_SNAPSHOT: N, DRM_MIRRORDRM_INVAL_READ: N, DRM_MIRRORDRM_STATS: N,
    DRM_MIRRORDRM_SET_BEHAVIOUR: N, MIRRORDRM_EVENT_UNMAP: N, MIRRORDRM_EVENT_CLEAR: N,
    MIRRORDRM_EVENT_PROTECTION_VMA: N, MIRRORDRM_EVENT_PROTECTION_PAGE: N, MIRRORDRM_EVENT_SOFT_DIRTY: N,
    MIRRORDRM_EVENT_RELEASE: N, MIRRORDRM_EVENT_MIGRATE: N, MIRRORDRM_EVENT_EXCLUSIVE: N,
    MIRRORDRM_EVENT_UNKNOWN: N, MIRRORDRM_EVENT_SLOTS: N, DRM_IOCTL_MIRRORDRM_USERPTR: N,
    DRM_IOCTL_MIRRORDRM_ACCESS: N, DRM_IOCTL_MIRRORDRM_SNAPSHOT: N, DRM_IOCTL_MIRRORDRM_INVAL_READ: N,
    DRM_IOCTL_MIRRORDRM_STATS: N, DRM_IOCTL_MIRRORDRM_SET_BEHAVIOUR: N, POLLIN: N, sizeofPage: N,
    sizeofRecord: N, sizeofCounters: N,
  },
  fakevramInfo: F, fakevramSetPolicy: F, fakevramGetPolicy: F, fakevramCounters: F, fakevramEvict: F,
  fakevramAccess: F,
  fakevramConstants: {
    IOC_INFO: N, IOC_SET_POLICY: N, IOC_GET_POLICY: N, IOC_COUNTERS: N, IOC_EVICT: N, IOC_ACCESS: N,
    KIND_IOMEM: N, KIND_PAGES: N, ENTRY_PTE: N, ENTRY_PMD: N, ENTRY_PUD: N, CAP_PMD: N, CAP_PUD: N,
    NR_ENTRY_SIZES: N, POLICY_PREFAULT: N, POLICY_NO_ALIGN: N, POLICY_FLAGS: N, COUNTERS_RESET: N,
    COUNTERS_FLAGS: N, ACCESS_WRITE: N, ACCESS_FLAGS: N, IOC_MAGIC: N, SIZEOF_INFO: N, SIZEOF_POLICY: N, SIZEOF_COUNTERS: N,
    SIZEOF_EVICT: N, SIZEOF_ACCESS: N,
  },
  patternFill: F, patternCheck: F, processVmReadv: F, processVmWritev: F, vmspliceFrom: F, futexWait: F,
  pipeRoundTrip: F, preadInto: F,
  cudaLoad: F, cudaDriverVersion: F, cudaDeviceCount: F, cudaDevice: F, cudaOpen: F, cudaClose: F, cudaMemInfo: F,
  cudaHostRegister: F, cudaHostUnregister: F, cudaHostDevicePointer: F, cudaMemAlloc: F, cudaMemFree: F,
  cudaPrefetch: F, cudaMemset: F, cudaGpuRead: F, cudaGpuWrite: F, cudaGpuXor: F, cudaGpuTouch: F, cudaGpuCopy: F,
  cudaPtx: F,
  cudaConstants: {
    CU_MEMHOSTREGISTER_PORTABLE: N, CU_MEMHOSTREGISTER_DEVICEMAP: N, CU_MEMHOSTREGISTER_IOMEMORY: N,
    CU_MEMHOSTREGISTER_READ_ONLY: N,
  },
  amdgpu: {
    gemUserptr: F, gemClose: F,
    layout: {
      drm_amdgpu_gem_userptr: {
        name: S, size: N,
        offsets: {
          addr: N, size: N, flags: N, handle: N,
        },
        sizes: {
          addr: N, size: N, flags: N, handle: N,
        },
      },
    },
  },
  amdgpuConstants: {
    AMDGPU_GEM_USERPTR_READONLY: N, AMDGPU_GEM_USERPTR_ANONONLY: N, AMDGPU_GEM_USERPTR_VALIDATE: N,
    AMDGPU_GEM_USERPTR_REGISTER: N, AMDGPU_GEM_USERPTR_FLAGS: N, DRM_AMDGPU_GEM_USERPTR: N,
    DRM_IOCTL_AMDGPU_GEM_USERPTR: N, DRM_IOCTL_GEM_CLOSE: N,
  },
  i915: {
    gemUserptr: F, gemClose: F, getParam: F,
    layout: {
      drm_i915_gem_userptr: {
        name: S, size: N,
        offsets: {
          user_ptr: N, user_size: N, flags: N, handle: N,
        },
        sizes: {
          user_ptr: N, user_size: N, flags: N, handle: N,
        },
      },
      drm_i915_getparam: { name: S, size: N, offsets: { param: N, value: N }, sizes: { param: N, value: N } },
    },
  },
  i915Constants: {
    I915_USERPTR_READ_ONLY: N, I915_USERPTR_PROBE: N, I915_USERPTR_UNSYNCHRONIZED: N, I915_PARAM_HAS_USERPTR_PROBE: N,
    DRM_I915_GETPARAM: N, DRM_I915_GEM_USERPTR: N, DRM_IOCTL_I915_GETPARAM: N, DRM_IOCTL_I915_GEM_USERPTR: N,
  },
  xe: {
    vmCreate: F, vmDestroy: F, bindUserptr: F, bindCpuAddrMirror: F, unbind: F, queryConfig: F,
    layout: {
      drm_xe_vm_create: {
        name: S, size: N,
        offsets: {
          extensions: N, flags: N, vm_id: N, reserved: N,
        },
        sizes: {
          extensions: N, flags: N, vm_id: N, reserved: N,
        },
      },
      drm_xe_vm_destroy: {
        name: S, size: N,
        offsets: {
          vm_id: N, pad: N, reserved: N,
        },
        sizes: {
          vm_id: N, pad: N, reserved: N,
        },
      },
      drm_xe_vm_bind_op: {
        name: S, size: N,
        offsets: {
          extensions: N, obj: N, pat_index: N, pad: N, obj_offset: N, userptr: N, cpu_addr_mirror_offset: N, range: N,
          addr: N, op: N, flags: N, prefetch_mem_region_instance: N, pad2: N, reserved: N,
        },
        sizes: {
          extensions: N, obj: N, pat_index: N, pad: N, obj_offset: N, userptr: N, cpu_addr_mirror_offset: N, range: N,
          addr: N, op: N, flags: N, prefetch_mem_region_instance: N, pad2: N, reserved: N,
        },
      },
      drm_xe_vm_bind: {
        name: S, size: N,
        offsets: {
          extensions: N, vm_id: N, exec_queue_id: N, pad: N, num_binds: N, bind: N, vector_of_binds: N, pad2: N,
          num_syncs: N, syncs: N, reserved: N,
        },
        sizes: {
          extensions: N, vm_id: N, exec_queue_id: N, pad: N, num_binds: N, bind: N, vector_of_binds: N, pad2: N,
          num_syncs: N, syncs: N, reserved: N,
        },
      },
      drm_xe_device_query: {
        name: S, size: N,
        offsets: {
          extensions: N, query: N, size: N, data: N, reserved: N,
        },
        sizes: {
          extensions: N, query: N, size: N, data: N, reserved: N,
        },
      },
      drm_xe_query_config: {
        name: S, size: N,
        offsets: {
          num_params: N, pad: N, info: N,
        },
        sizes: {
          num_params: N, pad: N, info: N,
        },
      },
    },
  },
  xeConstants: {
    DRM_XE_VM_CREATE_FLAG_SCRATCH_PAGE: N, DRM_XE_VM_CREATE_FLAG_LR_MODE: N, DRM_XE_VM_CREATE_FLAG_FAULT_MODE: N,
    DRM_XE_VM_BIND_OP_MAP: N, DRM_XE_VM_BIND_OP_UNMAP: N, DRM_XE_VM_BIND_OP_MAP_USERPTR: N,
    DRM_XE_VM_BIND_FLAG_READONLY: N, DRM_XE_VM_BIND_FLAG_IMMEDIATE: N, DRM_XE_VM_BIND_FLAG_CPU_ADDR_MIRROR: N,
    DRM_XE_DEVICE_QUERY_CONFIG: N, DRM_XE_QUERY_CONFIG_REV_AND_DEVICE_ID: N, DRM_XE_QUERY_CONFIG_FLAGS: N,
    DRM_XE_QUERY_CONFIG_FLAG_HAS_VRAM: N, DRM_XE_QUERY_CONFIG_FLAG_HAS_CPU_ADDR_MIRROR: N,
    DRM_XE_QUERY_CONFIG_MIN_ALIGNMENT: N, DRM_XE_QUERY_CONFIG_VA_BITS: N, DRM_XE_DEVICE_QUERY: N, DRM_XE_VM_CREATE: N,
    DRM_XE_VM_DESTROY: N, DRM_XE_VM_BIND: N, DRM_IOCTL_XE_DEVICE_QUERY: N, DRM_IOCTL_XE_VM_CREATE: N,
    DRM_IOCTL_XE_VM_DESTROY: N, DRM_IOCTL_XE_VM_BIND: N,
  },
  nouveau: {
    svmInit: F, svmMigrateToVram: F,
    layout: {
      drm_nouveau_svm_init: {
        name: S, size: N,
        offsets: {
          unmanaged_addr: N, unmanaged_size: N,
        },
        sizes: {
          unmanaged_addr: N, unmanaged_size: N,
        },
      },
      drm_nouveau_svm_bind: {
        name: S, size: N,
        offsets: {
          header: N, va_start: N, va_end: N, npages: N, stride: N, result: N, reserved0: N, reserved1: N,
        },
        sizes: {
          header: N, va_start: N, va_end: N, npages: N, stride: N, result: N, reserved0: N, reserved1: N,
        },
      },
    },
  },
  nouveauConstants: {
    NOUVEAU_SVM_BIND_COMMAND_SHIFT: N, NOUVEAU_SVM_BIND_PRIORITY_SHIFT: N, NOUVEAU_SVM_BIND_TARGET_SHIFT: N,
    NOUVEAU_SVM_BIND_COMMAND__MIGRATE: N, NOUVEAU_SVM_BIND_TARGET__GPU_VRAM: N, NOUVEAU_SVM_BIND_VALID_BITS: N,
    DRM_NOUVEAU_SVM_INIT: N, DRM_NOUVEAU_SVM_BIND: N, DRM_IOCTL_NOUVEAU_SVM_INIT: N, DRM_IOCTL_NOUVEAU_SVM_BIND: N,
  },
  setRealtimeClock: F,
} satisfies Shape<Native>;

/** What a loaded object really holds, in the same terms as Shape. */
function shapeOf(o: object): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) {
    if (typeof v === 'object' && v !== null) out[k] = shapeOf(v);
    else out[k] = typeof v;
  }
  return out;
}

describe('native addon exports', () => {
  it('are exactly the names and kinds src/native.ts declares', () => {
    expect(shapeOf(native)).toEqual(declared);
  });
});
