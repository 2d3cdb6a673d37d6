/* SPDX-License-Identifier: (GPL-2.0 WITH Linux-syscall-note) OR MIT */
/*
 * mirrordrm: a mock DRM render driver whose "device" mirrors user memory
 * through userptr GEM objects, either by pinning the pages (GUP) or by
 * mirroring the CPU page tables with an mmu_interval_notifier and
 * hmm_range_fault (HMM).  Every invalidation callback is logged per open
 * file so that the mm events a driver sees can be asserted from userspace.
 *
 * DRM uapi rules apply: fixed-size structures, explicit padding that must be
 * zero, __u64 for pointers and sizes, flags that reject unknown bits.
 *
 * This header depends only on <linux/types.h> and <linux/ioctl.h>, so that
 * userspace without libdrm's headers can include it.  The ioctl numbers are
 * the DRM driver-private range: DRM_IOCTL_BASE 'd', DRM_COMMAND_BASE 0x40.
 */
#ifndef _UAPI_MIRRORDRM_H_
#define _UAPI_MIRRORDRM_H_

#include <linux/types.h>
#include <linux/ioctl.h>

#if defined(__cplusplus)
extern "C" {
#endif

#define MIRRORDRM_IOCTL_BASE		'd'
#define MIRRORDRM_COMMAND_BASE		0x40

#define DRM_MIRRORDRM_USERPTR		0x00
#define DRM_MIRRORDRM_ACCESS		0x01
#define DRM_MIRRORDRM_SNAPSHOT		0x02
#define DRM_MIRRORDRM_INVAL_READ	0x03
#define DRM_MIRRORDRM_STATS		0x04
#define DRM_MIRRORDRM_SET_BEHAVIOUR	0x05
#define DRM_MIRRORDRM_MIGRATE		0x06
#define DRM_MIRRORDRM_EXCLUSIVE		0x07
#define DRM_MIRRORDRM_DEVICE_INFO	0x08

/* ---------------------------------------------------------------------- */
/* USERPTR: register [address, address + size) of the calling process.    */

/* Mode (exactly one, in the low 4 bits). */
#define MIRRORDRM_USERPTR_MODE_MASK		0xfu
/* pin_user_pages_fast() at creation; an mmu_interval_notifier watches too. */
#define MIRRORDRM_USERPTR_MODE_GUP		0x1u
/* As GUP, with FOLL_LONGTERM. */
#define MIRRORDRM_USERPTR_MODE_GUP_LONGTERM	0x2u
/* get_user_pages_fast(): plain page references, no FOLL_PIN accounting. */
#define MIRRORDRM_USERPTR_MODE_GUP_GET		0x3u
/* mmu_interval_notifier + hmm_range_fault(); no page references held. */
#define MIRRORDRM_USERPTR_MODE_HMM		0x4u
/*
 * The DRM GPU SVM helpers (drm_gpusvm): device accesses fault in drm_gpusvm
 * ranges of the chunk sizes it picks, its notifiers invalidate them.  Needs
 * a kernel with CONFIG_DRM_GPUSVM (6.15 and later); -EOPNOTSUPP elsewhere.
 */
#define MIRRORDRM_USERPTR_MODE_SVM		0x5u

/* The device may only read: no FOLL_WRITE, no HMM_PFN_REQ_WRITE. */
#define MIRRORDRM_USERPTR_READ_ONLY		(1u << 4)
/* HMM, SVM: fault the whole range in at creation (GUP modes always do). */
#define MIRRORDRM_USERPTR_POPULATE		(1u << 5)
/*
 * GUP modes: on invalidation release the pages and take new references at
 * the next device access.  Without it the object keeps its pages and marks
 * them stale: the device goes on using the page it was given.
 */
#define MIRRORDRM_USERPTR_GUP_REPIN		(1u << 6)
/*
 * Two-pass invalidation (Linux 7.1+, mmu_interval_notifier_ops
 * invalidate_start / invalidate_finish): the first pass stops device use of
 * the range, the second waits for the emulated fence and releases GUP pages.
 * Refused with EOPNOTSUPP on kernels without the two-pass ops.
 */
#define MIRRORDRM_USERPTR_TWO_PASS		(1u << 7)
#define MIRRORDRM_USERPTR_FLAGS			(MIRRORDRM_USERPTR_MODE_MASK | \
						 MIRRORDRM_USERPTR_READ_ONLY | \
						 MIRRORDRM_USERPTR_POPULATE | \
						 MIRRORDRM_USERPTR_GUP_REPIN | \
						 MIRRORDRM_USERPTR_TWO_PASS)

/* Largest object: 4 GiB. */
#define MIRRORDRM_USERPTR_MAX_SIZE		(1ull << 32)

struct drm_mirrordrm_userptr {
	__u64 address;		/* in: page aligned */
	__u64 size;		/* in: page aligned, non-zero */
	__u32 flags;		/* in: MIRRORDRM_USERPTR_* */
	__u32 handle;		/* out: GEM handle */
};

/* ---------------------------------------------------------------------- */
/* ACCESS: the device copies through its own view of the object's pages.  */

#define MIRRORDRM_ACCESS_READ		(1u << 0)	/* object -> data */
#define MIRRORDRM_ACCESS_WRITE		(1u << 1)	/* data -> object */
#define MIRRORDRM_ACCESS_FLAGS		(MIRRORDRM_ACCESS_READ | MIRRORDRM_ACCESS_WRITE)

struct drm_mirrordrm_access {
	__u32 handle;
	__u32 flags;		/* exactly one of READ, WRITE */
	__u64 offset;		/* byte offset into the object */
	__u64 length;		/* bytes, non-zero, offset + length <= size */
	__u64 data;		/* user pointer to length bytes */
	__u32 populates;	/* out: times the device view had to be (re)built */
	__u32 retries;		/* out: hmm -EBUSY and read_retry collisions */
};

/* ---------------------------------------------------------------------- */
/* SNAPSHOT: per-page state of the device view and of the CPU page tables, */
/* taken without faulting anything in.                                     */

#define MIRRORDRM_PAGE_VALID		(1u << 0)
#define MIRRORDRM_PAGE_WRITE		(1u << 1)
#define MIRRORDRM_PAGE_ZERO		(1u << 2)	/* the shared zero page */
#define MIRRORDRM_PAGE_ERROR		(1u << 3)	/* cpu: HMM_PFN_ERROR */
#define MIRRORDRM_PAGE_STALE		(1u << 4)	/* dev: kept across an invalidation */
#define MIRRORDRM_PAGE_SAME		(1u << 5)	/* dev: same pfn as the cpu view */
#define MIRRORDRM_PAGE_DEVICE_PRIVATE	(1u << 6)	/* a device-private page, owner below */
#define MIRRORDRM_PAGE_EXCLUSIVE	(1u << 7)	/* dev: held by make_device_exclusive() */
#define MIRRORDRM_PAGE_ORDER_SHIFT	8		/* cpu: hmm_pfn_to_map_order() */
#define MIRRORDRM_PAGE_ORDER_MASK	(0x1fu << MIRRORDRM_PAGE_ORDER_SHIFT)
/* DEVICE_PRIVATE: the pgmap owner id of the device holding the page */
#define MIRRORDRM_PAGE_OWNER_SHIFT	16
#define MIRRORDRM_PAGE_OWNER_MASK	(0xfu << MIRRORDRM_PAGE_OWNER_SHIFT)

struct drm_mirrordrm_page {
	__u64 dev_pfn;		/* 0 unless CAP_SYS_ADMIN */
	__u64 cpu_pfn;		/* 0 unless CAP_SYS_ADMIN */
	__u32 dev_flags;
	__u32 cpu_flags;
};

struct drm_mirrordrm_snapshot {
	__u32 handle;
	__u32 flags;		/* must be 0 */
	__u64 first_page;	/* page index into the object */
	__u64 count;		/* pages; first_page + count <= object pages */
	__u64 pages;		/* user pointer to count struct drm_mirrordrm_page */
};

/* ---------------------------------------------------------------------- */
/* Invalidation log, one per open file.                                   */

/* The kernel's enum mmu_notifier_event, mapped by name (not by value). */
#define MIRRORDRM_EVENT_UNMAP		0
#define MIRRORDRM_EVENT_CLEAR		1
#define MIRRORDRM_EVENT_PROTECTION_VMA	2
#define MIRRORDRM_EVENT_PROTECTION_PAGE	3
#define MIRRORDRM_EVENT_SOFT_DIRTY	4
#define MIRRORDRM_EVENT_RELEASE		5
#define MIRRORDRM_EVENT_MIGRATE		6
#define MIRRORDRM_EVENT_EXCLUSIVE	7
#define MIRRORDRM_EVENT_UNKNOWN		15
#define MIRRORDRM_EVENT_SLOTS		16

#define MIRRORDRM_RECORD_BLOCKABLE	(1u << 0)	/* mmu_notifier_range_blockable() */
#define MIRRORDRM_RECORD_WOULD_BLOCK	(1u << 1)	/* the callback returned false */
#define MIRRORDRM_RECORD_READ_ONLY	(1u << 2)	/* known to be an update to read-only */
#define MIRRORDRM_RECORD_DOWNGRADED	(1u << 3)	/* device kept read access */
#define MIRRORDRM_RECORD_KEPT_STALE	(1u << 4)	/* GUP pages kept, marked stale */
#define MIRRORDRM_RECORD_FENCE_WAIT	(1u << 5)	/* emulated fence wait ran */
/* The object's own MIGRATE or EXCLUSIVE: ignored, the migration maps it. */
#define MIRRORDRM_RECORD_OWN_MIGRATION	(1u << 8)
/* a two-pass object's record: duration_ns is the start pass, finish_ns the finish pass */
#define MIRRORDRM_RECORD_TWO_PASS	(1u << 6)
/* two-pass object, the finish state could not be allocated: the start pass did all */
#define MIRRORDRM_RECORD_FINISH_FALLBACK	(1u << 7)

/* record.owner: range->owner of MIGRATE and EXCLUSIVE events. */
#define MIRRORDRM_OWNER_NONE		0		/* no owner given */
/* 1..4: the pgmap owner id of a mirrordrm device (module parameter owners=) */
#define MIRRORDRM_OWNER_FOREIGN		0xffffffffu	/* not a mirrordrm owner */

struct drm_mirrordrm_inval_record {
	__u64 seq;		/* per file, from 1, no gaps unless lost > 0 */
	__u64 start;		/* range as given to the callback */
	__u64 end;
	__u64 timestamp_ns;	/* ktime_get_ns() at callback entry */
	__u64 duration_ns;	/* time spent in the callback */
	__u64 pages_dropped;	/* device pages unmapped by this callback */
	__u64 pages_downgraded;	/* device pages made read-only */
	__u32 handle;		/* object hit (one record per object hit) */
	__u32 event;		/* MIRRORDRM_EVENT_* */
	__u32 flags;		/* MIRRORDRM_RECORD_* */
	__u32 pid;		/* tgid of the task running the callback */
	__u32 owner;		/* MIRRORDRM_OWNER_* or an owner id */
	__u32 pad;		/* zero */
	__u64 finish_ns;	/* time in a second (finish) pass, 0 without one */
};

struct drm_mirrordrm_inval_read {
	__u64 records;		/* user pointer to count records */
	__u32 count;		/* in: capacity; out: records copied */
	__u32 flags;		/* must be 0 */
	__u64 lost;		/* out: records lost to overflow since the last read */
	__u64 lost_total;	/* out: records lost since open */
	__u64 pending;		/* out: records still queued after this read */
};

/* ---------------------------------------------------------------------- */
/* STATS: counters of one object (handle != 0) or of the whole file.      */

struct drm_mirrordrm_counters {
	__u64 objects;			/* live objects (file) or 1 */
	__u64 pages;			/* object pages */
	__u64 pages_pinned;		/* pages holding a pin or reference now */
	__u64 pages_valid;		/* pages the device can use now */
	__u64 gup_calls;
	__u64 gup_pages;		/* pages pinned/referenced, cumulative */
	__u64 hmm_range_fault_calls;
	__u64 hmm_range_fault_ebusy;
	__u64 read_retry;		/* mmu_interval_read_retry() collisions */
	__u64 populates;		/* device view (re)built */
	__u64 revalidations;		/* populates after an invalidation */
	__u64 device_accesses;
	__u64 device_bytes;
	__u64 invalidations;		/* callbacks */
	__u64 would_block;		/* callbacks that returned false */
	__u64 pages_dropped;
	__u64 pages_downgraded;
	__u64 log_lost;			/* invalidation records lost */
	__u64 by_event[MIRRORDRM_EVENT_SLOTS];
	__u64 pages_to_device;		/* pages MIGRATE moved to device memory */
	__u64 pages_to_ram;		/* pages MIGRATE moved back */
	__u64 own_migrations;		/* callbacks ignored as the object's own */
};

struct drm_mirrordrm_stats {
	__u32 handle;		/* 0: the file */
	__u32 flags;		/* must be 0 */
	__u64 counters;		/* user pointer to struct drm_mirrordrm_counters */
	__u32 size;		/* in: bytes at counters; out: kernel's size */
	__u32 pad;		/* must be 0 */
};

/* ---------------------------------------------------------------------- */
/* SET_BEHAVIOUR: how invalidation callbacks behave, per object or as the  */
/* default for objects created later on this file (handle 0).              */

/* Protection changes to read-only keep device read access. */
#define MIRRORDRM_BEHAVIOUR_RO_DOWNGRADE	(1u << 0)
#define MIRRORDRM_BEHAVIOUR_FLAGS		MIRRORDRM_BEHAVIOUR_RO_DOWNGRADE
#define MIRRORDRM_FENCE_WAIT_MAX_NS		(1000000000ull)
#define MIRRORDRM_POPULATE_DELAY_MAX_NS		(1000000000ull)

struct drm_mirrordrm_behaviour {
	__u32 handle;		/* 0: file default */
	__u32 flags;		/* MIRRORDRM_BEHAVIOUR_* */
	/*
	 * Emulated fence wait: when blockable, the callback sleeps this long
	 * holding the driver lock; when not blockable and non-zero, the
	 * callback returns false (the device is "busy").
	 */
	__u64 fence_wait_ns;
	/*
	 * Emulated page-table build time: population sleeps this long after
	 * collecting the pages (hmm_range_fault() or GUP) and before checking
	 * mmu_interval_read_retry() under the driver lock, so that a race test
	 * can land an invalidation in that window every time.
	 */
	__u64 populate_delay_ns;
};

/* ---------------------------------------------------------------------- */
/* MIGRATE: move pages of an object's range into the device's private     */
/* memory (ZONE_DEVICE, MEMORY_DEVICE_PRIVATE) or back to system memory,   */
/* with migrate_vma_setup/pages/finalize.  Only private anonymous memory   */
/* migrates: a range over file, shared, hugetlb or VM_IO/VM_PFNMAP memory  */
/* is refused with EOPNOTSUPP before anything moves.  When device memory   */
/* runs out the call fails with ENOSPC after moving what fit (migrated);  */
/* pages that did not move keep their bytes in system memory.              */

#define MIRRORDRM_MIGRATE_TO_DEVICE	(1u << 0)
#define MIRRORDRM_MIGRATE_TO_RAM	(1u << 1)
/* Move PMD-mapped THPs as one 2 MiB folio (MIGRATE_VMA_SELECT_COMPOUND). */
#define MIRRORDRM_MIGRATE_COMPOUND	(1u << 2)
#define MIRRORDRM_MIGRATE_FLAGS		(MIRRORDRM_MIGRATE_TO_DEVICE | \
					 MIRRORDRM_MIGRATE_TO_RAM | \
					 MIRRORDRM_MIGRATE_COMPOUND)

struct drm_mirrordrm_migrate {
	__u32 handle;
	__u32 flags;		/* exactly one of TO_DEVICE, TO_RAM; COMPOUND */
	__u64 offset;		/* page aligned, within the object */
	__u64 length;		/* page aligned, non-zero */
	__u64 migrated;		/* out: pages moved */
	__u64 compound;		/* out: of those, pages moved as part of a 2 MiB folio */
	__u64 skipped;		/* out: pages in the range that did not move (all of them) */
};

/* ---------------------------------------------------------------------- */
/* EXCLUSIVE: make_device_exclusive() on each page of the range, for       */
/* device atomics: the CPU loses access until it touches the page, which   */
/* takes it back (an invalidation the log shows).                          */

struct drm_mirrordrm_exclusive {
	__u32 handle;
	__u32 flags;		/* must be 0 */
	__u64 offset;		/* page aligned */
	__u64 length;		/* page aligned, non-zero */
	__u64 pages;		/* out: pages made exclusive */
};

/* ---------------------------------------------------------------------- */
/* DEVICE_INFO: what this device is and has.                              */

#define MIRRORDRM_CAP_DEVICE_PRIVATE	(1u << 0)	/* device memory, MIGRATE */
#define MIRRORDRM_CAP_MIGRATE_COMPOUND	(1u << 1)	/* MIGRATE_COMPOUND */
#define MIRRORDRM_CAP_EXCLUSIVE		(1u << 2)	/* EXCLUSIVE */

struct drm_mirrordrm_device_info {
	__u32 index;		/* device number, 0.. in load order */
	__u32 owner;		/* pgmap owner id */
	__u32 caps;		/* MIRRORDRM_CAP_* */
	__u32 pad;		/* zero */
	__u64 devmem_pages;	/* device-private pages, 0 without */
	__u64 devmem_free;	/* of those, not in use */
	__u64 devmem_pfn;	/* first pfn; 0 unless CAP_SYS_ADMIN */
	__u64 to_device;	/* pages migrated in, cumulative */
	__u64 to_ram;		/* pages migrated out by MIGRATE */
	__u64 cpu_faults;	/* migrate_to_ram() calls */
	__u64 fault_pages;	/* pages those moved back */
	__u64 folio_frees;	/* folio_free() calls */
	__u64 folio_splits;	/* folio_split() calls */
	__u64 thp_allocs;	/* 2 MiB device folios handed out */
	__u64 alloc_failures;	/* device page allocations that failed */
	__u64 evicted;		/* pages moved out at unload */
};

#define DRM_IOCTL_MIRRORDRM_USERPTR \
	_IOWR(MIRRORDRM_IOCTL_BASE, MIRRORDRM_COMMAND_BASE + DRM_MIRRORDRM_USERPTR, \
	      struct drm_mirrordrm_userptr)
#define DRM_IOCTL_MIRRORDRM_ACCESS \
	_IOWR(MIRRORDRM_IOCTL_BASE, MIRRORDRM_COMMAND_BASE + DRM_MIRRORDRM_ACCESS, \
	      struct drm_mirrordrm_access)
#define DRM_IOCTL_MIRRORDRM_SNAPSHOT \
	_IOW(MIRRORDRM_IOCTL_BASE, MIRRORDRM_COMMAND_BASE + DRM_MIRRORDRM_SNAPSHOT, \
	     struct drm_mirrordrm_snapshot)
#define DRM_IOCTL_MIRRORDRM_INVAL_READ \
	_IOWR(MIRRORDRM_IOCTL_BASE, MIRRORDRM_COMMAND_BASE + DRM_MIRRORDRM_INVAL_READ, \
	      struct drm_mirrordrm_inval_read)
#define DRM_IOCTL_MIRRORDRM_STATS \
	_IOWR(MIRRORDRM_IOCTL_BASE, MIRRORDRM_COMMAND_BASE + DRM_MIRRORDRM_STATS, \
	      struct drm_mirrordrm_stats)
#define DRM_IOCTL_MIRRORDRM_SET_BEHAVIOUR \
	_IOW(MIRRORDRM_IOCTL_BASE, MIRRORDRM_COMMAND_BASE + DRM_MIRRORDRM_SET_BEHAVIOUR, \
	     struct drm_mirrordrm_behaviour)
#define DRM_IOCTL_MIRRORDRM_MIGRATE \
	_IOWR(MIRRORDRM_IOCTL_BASE, MIRRORDRM_COMMAND_BASE + DRM_MIRRORDRM_MIGRATE, \
	      struct drm_mirrordrm_migrate)
#define DRM_IOCTL_MIRRORDRM_EXCLUSIVE \
	_IOWR(MIRRORDRM_IOCTL_BASE, MIRRORDRM_COMMAND_BASE + DRM_MIRRORDRM_EXCLUSIVE, \
	      struct drm_mirrordrm_exclusive)
#define DRM_IOCTL_MIRRORDRM_DEVICE_INFO \
	_IOR(MIRRORDRM_IOCTL_BASE, MIRRORDRM_COMMAND_BASE + DRM_MIRRORDRM_DEVICE_INFO, \
	     struct drm_mirrordrm_device_info)

#if defined(__cplusplus)
}
#endif

#endif /* _UAPI_MIRRORDRM_H_ */
