/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * mirrordrm internals shared by its source files:
 *
 *   mirrordrm_drv.c     the DRM driver, userptr objects, the invalidation log
 *   mirrordrm_devmem.c  device-private memory and migration (DEVICE_PRIVATE)
 *   mirrordrm_svm.c     MODE_SVM objects on the DRM GPU SVM helpers
 *                       (drm_gpusvm), built only where the kernel has them
 *
 * The locking rules are written down at the top of mirrordrm_drv.c.
 */
#ifndef _MIRRORDRM_H_
#define _MIRRORDRM_H_

#include <linux/types.h>
#include <linux/version.h>
#include <linux/kref.h>
#include <linux/mutex.h>
#include <linux/spinlock.h>
#include <linux/wait.h>
#include <linux/mmu_notifier.h>
#include <drm/drm_device.h>
#include <drm/drm_gem.h>

#include "uapi/mirrordrm.h"

#define MDRM_MAX_DEVICES	4

/*
 * Device-private memory needs DEVICE_PRIVATE and the folio-based
 * dev_pagemap_ops (folio_free, folio_split) of 6.19.
 */
#if IS_ENABLED(CONFIG_DEVICE_PRIVATE) && \
	LINUX_VERSION_CODE >= KERNEL_VERSION(6, 19, 0)
#define MDRM_HAVE_DEVMEM 1
#endif

/*
 * The pgmap owner of a group of devices.  Devices loaded with the same owner
 * id share one of these, so hmm_range_fault() and migrate_vma_setup() treat
 * their device-private pages as one memory; the pointer is the identity the
 * mm compares, the id is what the invalidation log reports.
 */
struct mdrm_owner {
	u32 id;				/* 1..MDRM_MAX_DEVICES */
};

struct mdrm_devmem;
struct mdrm_svm;

struct mdrm_device {
	struct drm_device drm;
	unsigned int index;		/* 0.. in load order */
	struct mdrm_owner *owner;
	struct mdrm_devmem *devmem;	/* NULL without device memory */
};

static inline struct mdrm_device *to_mdrm_device(struct drm_device *drm)
{
	return container_of(drm, struct mdrm_device, drm);
}

#define MDRM_LOG_SIZE		4096	/* records per open file */
#define MDRM_READ_MAX		256	/* records per INVAL_READ call */
#define MDRM_CHUNK_PAGES	256	/* pages per populate / access step */
#define MDRM_SNAP_CHUNK		256	/* pages per snapshot step */

/* obj->state[] bits: the device view of one page */
#define MDRM_ST_VALID	BIT(0)
#define MDRM_ST_WRITE	BIT(1)
#define MDRM_ST_STALE	BIT(2)
#define MDRM_ST_EXCL	BIT(3)	/* mapped by make_device_exclusive() */

#define MDRM_CNT(field) \
	(offsetof(struct drm_mirrordrm_counters, field) / sizeof(__u64))
#define MDRM_NR_COUNTERS \
	(sizeof(struct drm_mirrordrm_counters) / sizeof(__u64))

struct mdrm_counters {
	atomic64_t c[MDRM_NR_COUNTERS];
};

/* Per open file: the invalidation log, counters and default behaviour. */
struct mdrm_fpriv {
	struct kref ref;
	spinlock_t lock;		/* protects ring, head, count, next_seq, lost */
	wait_queue_head_t wq;
	struct drm_mirrordrm_inval_record *ring;
	u32 head;			/* oldest record */
	u32 count;
	u64 next_seq;
	u64 lost;			/* since the last read */
	u64 lost_total;
	struct mdrm_counters cnt;
	u32 behaviour;			/* defaults for new objects */
	u64 fence_wait_ns;
	u64 populate_delay_ns;
};

struct mdrm_obj {
	struct drm_gem_object base;
	struct mmu_interval_notifier notifier;
	bool notifier_inserted;
	struct mdrm_device *mdev;	/* the device the object was created on */
	struct mutex lock;		/* the driver lock, see mirrordrm_drv.c */
	/* serialises MIGRATE/EXCLUSIVE against device access, see mirrordrm_devmem.c */
	struct mutex migrate_lock;
	struct task_struct *migrator;	/* task inside MIGRATE/EXCLUSIVE, or NULL */
	struct mm_struct *mm;		/* mmgrab()ed */
	struct mdrm_fpriv *fpriv;	/* creator's log, referenced */
	unsigned long start;
	unsigned long npages;
	u32 mode;			/* MIRRORDRM_USERPTR_MODE_* */
	u32 uflags;			/* creation flags */
	u32 handle;			/* creator's handle, for the log */
	u32 behaviour;			/* READ_ONCE: changed by SET_BEHAVIOUR */
	u64 fence_wait_ns;		/* READ_ONCE */
	u64 populate_delay_ns;		/* READ_ONCE */
	/* device view, under lock */
	u8 *state;
	struct page **pages;		/* GUP modes: referenced pages */
	unsigned long *pfns;		/* HMM: hmm_range_fault() output */
	bool invalidated;		/* a callback dropped pages since the last populate */
	struct mdrm_svm *svm;		/* MODE_SVM: drm_gpusvm state, mirrordrm_svm.c */
	struct mdrm_counters cnt;
};

static inline struct mdrm_obj *to_mdrm_obj(struct drm_gem_object *gem)
{
	return container_of(gem, struct mdrm_obj, base);
}

static inline bool mdrm_is_gup(const struct mdrm_obj *obj)
{
	return obj->mode >= MIRRORDRM_USERPTR_MODE_GUP &&
	       obj->mode <= MIRRORDRM_USERPTR_MODE_GUP_GET;
}

static inline bool mdrm_read_only(const struct mdrm_obj *obj)
{
	return obj->uflags & MIRRORDRM_USERPTR_READ_ONLY;
}

/* Counters: each object's, added to its file's as well. */
static inline void mdrm_count(struct mdrm_obj *obj, unsigned int idx, s64 v)
{
	atomic64_add(v, &obj->cnt.c[idx]);
	atomic64_add(v, &obj->fpriv->cnt.c[idx]);
}

void mdrm_log_append(struct mdrm_obj *obj, struct drm_mirrordrm_inval_record *rec);
u32 mdrm_event(enum mmu_notifier_event ev);
bool mdrm_update_to_read_only(const struct mmu_notifier_range *range);
u32 mdrm_owner_id(const void *owner);
struct mdrm_obj *mdrm_lookup(struct drm_file *file, u32 handle);

#ifdef MDRM_HAVE_DEVMEM
int mdrm_devmem_init(struct mdrm_device *mdev, unsigned long size);
void mdrm_devmem_fini(struct mdrm_device *mdev);
struct page *mdrm_devmem_backing(struct page *page);
u32 mdrm_devmem_page_flags(struct page *page);
void mdrm_devmem_info(struct mdrm_device *mdev,
		      struct drm_mirrordrm_device_info *info);
int mdrm_ioctl_migrate(struct drm_device *dev, void *data, struct drm_file *file);
int mdrm_ioctl_exclusive(struct drm_device *dev, void *data, struct drm_file *file);
#else
static inline int mdrm_devmem_init(struct mdrm_device *mdev, unsigned long size)
{
	return 0;
}

static inline void mdrm_devmem_fini(struct mdrm_device *mdev) {}

static inline struct page *mdrm_devmem_backing(struct page *page)
{
	return page;
}

static inline u32 mdrm_devmem_page_flags(struct page *page)
{
	return 0;
}

static inline void mdrm_devmem_info(struct mdrm_device *mdev,
				    struct drm_mirrordrm_device_info *info) {}

/* no DEVICE_PRIVATE in this kernel (or too old an API for it) */
static inline int mdrm_ioctl_migrate(struct drm_device *dev, void *data,
				     struct drm_file *file)
{
	return -EOPNOTSUPP;
}

static inline int mdrm_ioctl_exclusive(struct drm_device *dev, void *data,
				       struct drm_file *file)
{
	return -EOPNOTSUPP;
}
#endif

/*
 * MODE_SVM (mirrordrm_svm.c).  The object's device view lives in drm_gpusvm
 * ranges; obj->state[] mirrors it under the gpusvm notifier lock, not under
 * obj->lock (see the top of mirrordrm_svm.c).  Kernels without drm_gpusvm
 * (CONFIG_DRM_GPUSVM, 6.15 and later) refuse the mode with -EOPNOTSUPP.
 */
#if IS_ENABLED(CONFIG_DRM_GPUSVM)
void mdrm_svm_device_init(struct device *dev);
int mdrm_svm_obj_init(struct mdrm_obj *obj);
void mdrm_svm_obj_fini(struct mdrm_obj *obj);
int mdrm_svm_access(struct mdrm_obj *obj, u64 offset, size_t len, void *buf,
		    bool write, u32 *populates, u32 *retries);
void mdrm_svm_view_lock(struct mdrm_obj *obj);
void mdrm_svm_view_unlock(struct mdrm_obj *obj);
unsigned long mdrm_svm_dev_pfn(struct mdrm_obj *obj, unsigned long idx);
#define MDRM_HAVE_SVM	1
#else
#define MDRM_HAVE_SVM	0
static inline void mdrm_svm_device_init(struct device *dev) { }
static inline int mdrm_svm_obj_init(struct mdrm_obj *obj) { return -EOPNOTSUPP; }
static inline void mdrm_svm_obj_fini(struct mdrm_obj *obj) { }
static inline int mdrm_svm_access(struct mdrm_obj *obj, u64 offset, size_t len,
				  void *buf, bool write, u32 *populates,
				  u32 *retries)
{
	return -EOPNOTSUPP;
}
static inline void mdrm_svm_view_lock(struct mdrm_obj *obj) { }
static inline void mdrm_svm_view_unlock(struct mdrm_obj *obj) { }
static inline unsigned long mdrm_svm_dev_pfn(struct mdrm_obj *obj,
					     unsigned long idx)
{
	return 0;
}
#endif

#endif /* _MIRRORDRM_H_ */
