// SPDX-License-Identifier: GPL-2.0-only
/*
 * mirrordrm MODE_SVM: userptr objects mirrored through the DRM GPU SVM
 * helpers (drivers/gpu/drm/drm_gpusvm.c), used the way xe's SVM fault path
 * uses them (xe_svm.c), so that the upstream helper can be compared with the
 * hand-written HMM mirror of mirrordrm_drv.c on the same scenarios.
 *
 * Range API, not the pages API
 * ----------------------------
 * drm_gpusvm offers two ways in.  xe_userptr.c uses the "pages" API:
 * drm_gpusvm_get_pages() over the whole userptr with an mmu_interval_notifier
 * of the driver's own; that is hmm_range_fault() plus dma_map_page() over
 * exactly the object, the same thing our HMM mode does.  xe_svm.c uses the
 * "range" API: a GPU fault at an address creates (or finds) a
 * drm_gpusvm_range with drm_gpusvm_range_find_or_insert(), whose size the
 * helper picks from the chunk sizes (2 MiB, 64 KiB, 4 KiB as xe: the largest
 * aligned chunk inside the VMA, the object and the notifier), under a
 * notifier of the helper's own (512 MiB windows as xe's default), and
 * drm_gpusvm_range_get_pages() maps it.  The range API is what brings
 * drm_gpusvm's own behaviour (range granularity, notifier windows, the
 * unmap-then-garbage-collect cycle), so MODE_SVM uses it; a "device access"
 * is a device fault at each address it touches.
 *
 * One drm_gpusvm per object
 * -------------------------
 * xe has one drm_gpusvm per VM, bound to one mm.  A mirrordrm file is shared
 * across fork and its objects may belong to different processes, while a
 * drm_gpusvm serves exactly one mm; the invalidation log and the counters are
 * per object too.  So each SVM object has its own drm_gpusvm covering
 * [start, start + size) of its creator's mm (drm_gpusvm_init mmgrab()s it),
 * finished when the GEM object is freed.  Its notifiers cover 512 MiB aligned
 * windows, wider than the object: callbacks for addresses outside the object
 * are ignored (no record), as no range can lie there.
 *
 * How the device touches the bytes
 * --------------------------------
 * drm_gpusvm keeps no struct page and no hmm pfn after get_pages: what a
 * range holds is pages.dma_addr[], one struct drm_pagemap_addr per CPU
 * mapping (PAGE_SIZE << order bytes), the result of dma_map_page() on our
 * platform device.  A real device would put those addresses in its page
 * tables.  Our device has no bus: it "reads the DMA address" by translating
 * it back with dma_to_phys(), which is exact for dma-direct (no IOMMU, no
 * DMA ops, no forced bounce buffering; the device's mask is 64 bits, so
 * dma-direct never bounces either).  Objects are refused with -EOPNOTSUPP on
 * a device where that does not hold.  The page found is the page the CPU
 * maps: SNAPSHOT reports it as dev_pfn and sets MIRRORDRM_PAGE_SAME when it
 * matches the CPU's pfn, which is what the tests check.
 *
 * Locking (drm_gpusvm's rules, Documentation in drm_gpusvm.c "DOC: Locking")
 * -------
 * gpusvm->notifier_lock (an rwsem) is the driver->update lock of
 * Documentation/mm/hmm.rst:
 *  - drm_gpusvm's mmu_interval_notifier callback takes it for write, sets
 *    the sequence and calls our ->invalidate (only for blockable ranges: it
 *    returns false for the others without calling us, so MODE_SVM never logs
 *    a WOULD_BLOCK record).  Our ->invalidate walks the notifier's ranges,
 *    clears the device view (obj->state[], mr->bound), calls
 *    drm_gpusvm_range_unmap_pages() with ctx.in_notifier (which asserts the
 *    write lock) and on UNMAP drm_gpusvm_range_set_unmapped() and queues the
 *    range for the garbage collector; then it appends the log record
 *    (fpriv->lock, a spinlock, nests inside).  It allocates nothing and
 *    takes no mutex: it runs from reclaim.
 *  - The device side takes it for read: after drm_gpusvm_range_get_pages()
 *    (which takes it itself while DMA-mapping), the bind checks
 *    drm_gpusvm_range_pages_valid() under it and then copies the bytes with
 *    it still held, so an invalidation waits for the copy as it would wait
 *    for the device's fences.  Copies to and from user memory happen outside
 *    it (mirrordrm_drv.c bounces through a kernel buffer).
 *  - obj->state[] of an SVM object is written under the write lock
 *    (invalidate) or under the read lock plus svm->lock (bind); it is read
 *    under both (SNAPSHOT).
 * svm->lock (a mutex) is drm_gpusvm's "driver_svm_lock", registered with
 * drm_gpusvm_driver_set_lock(): it serialises drm_gpusvm_range_find_or_insert,
 * drm_gpusvm_range_remove (the garbage collector) and drm_gpusvm_fini, and
 * binds.  It is held across get_pages (hmm_range_fault, mmap lock) and is
 * never taken under the notifier lock or in ->invalidate, so
 * svm->lock -> mmap_lock -> (reclaim) -> notifier_lock is the only order.
 * svm->gc_lock (a spinlock) protects the garbage-collector list, which
 * ->invalidate appends to.
 */

#include <linux/mm.h>
#include <linux/mmu_notifier.h>
#include <linux/highmem.h>
#include <linux/slab.h>
#include <linux/sched/signal.h>
#include <linux/delay.h>
#include <linux/dma-mapping.h>
#include <linux/dma-map-ops.h>
#include <linux/dma-direct.h>
#include <linux/swiotlb.h>
#include <linux/device.h>

#include <drm/drm_gpusvm.h>
#include <drm/drm_pagemap.h>

#include "mirrordrm.h"

struct mdrm_svm {
	struct drm_gpusvm gpusvm;
	struct mdrm_obj *obj;
	struct mutex lock;		/* driver_svm_lock, see above */
	spinlock_t gc_lock;		/* protects gc */
	struct list_head gc;		/* ranges unmapped by the CPU */
	bool inited;			/* drm_gpusvm_init() succeeded */
};

struct mdrm_svm_range {
	struct drm_gpusvm_range base;
	struct list_head gc_link;	/* on svm->gc, under svm->gc_lock */
	bool bound;			/* device view valid, under notifier_lock */
};

/* xe's chunk sizes; the last must be the page size */
static const unsigned long mdrm_svm_chunks[] = { SZ_2M, SZ_64K, SZ_4K };
#define MDRM_SVM_NOTIFIER_SIZE	SZ_512M

static inline struct mdrm_svm_range *to_mdrm_range(struct drm_gpusvm_range *r)
{
	return container_of(r, struct mdrm_svm_range, base);
}

static inline unsigned long mdrm_svm_obj_end(const struct mdrm_obj *obj)
{
	return obj->start + (obj->npages << PAGE_SHIFT);
}

static struct drm_gpusvm_range *mdrm_svm_range_alloc(struct drm_gpusvm *gpusvm)
{
	struct mdrm_svm_range *mr = kzalloc(sizeof(*mr), GFP_KERNEL);

	if (!mr)
		return NULL;
	INIT_LIST_HEAD(&mr->gc_link);
	return &mr->base;
}

static void mdrm_svm_range_free(struct drm_gpusvm_range *r)
{
	kfree(to_mdrm_range(r));
}

static void mdrm_svm_invalidate(struct drm_gpusvm *gpusvm,
				struct drm_gpusvm_notifier *notifier,
				const struct mmu_notifier_range *mmu_range)
{
	struct mdrm_svm *svm = container_of(gpusvm, struct mdrm_svm, gpusvm);
	struct mdrm_obj *obj = svm->obj;
	struct drm_gpusvm_ctx ctx = {
		.in_notifier = true,
		.read_only = mdrm_read_only(obj),
	};
	struct drm_mirrordrm_inval_record rec = {};
	unsigned long start = max(mmu_range->start, obj->start);
	unsigned long end = min(mmu_range->end, mdrm_svm_obj_end(obj));
	u64 fence = READ_ONCE(obj->fence_wait_ns);
	struct drm_gpusvm_range *r = NULL;
	u64 dropped = 0;

	lockdep_assert_held_write(&gpusvm->notifier_lock);
	/* the notifier's window is wider than the object */
	if (start >= end)
		return;

	rec.timestamp_ns = ktime_get_ns();
	rec.start = mmu_range->start;
	rec.end = mmu_range->end;
	rec.event = mdrm_event(mmu_range->event);
	rec.handle = READ_ONCE(obj->handle);
	rec.pid = current->tgid;
	rec.owner = mdrm_owner_id(mmu_range->owner);
	/* drm_gpusvm calls ->invalidate for blockable ranges only */
	rec.flags = MIRRORDRM_RECORD_BLOCKABLE;
	if (mdrm_update_to_read_only(mmu_range))
		rec.flags |= MIRRORDRM_RECORD_READ_ONLY;

	if (fence) {
		/* emulate waiting for the device's fences, lock held */
		fsleep(DIV_ROUND_UP_ULL(fence, NSEC_PER_USEC));
		rec.flags |= MIRRORDRM_RECORD_FENCE_WAIT;
	}

	/*
	 * Whole ranges: drm_gpusvm does not split a range, so a range the
	 * invalidation touches loses its whole device view and DMA mapping.
	 */
	drm_gpusvm_for_each_range(r, notifier, start, end) {
		struct mdrm_svm_range *mr = to_mdrm_range(r);

		if (mr->bound) {
			unsigned long first = (drm_gpusvm_range_start(r) -
					       obj->start) >> PAGE_SHIFT;
			unsigned long n = drm_gpusvm_range_size(r) >> PAGE_SHIFT;

			memset(obj->state + first, 0, n);
			mr->bound = false;
			dropped += n;
		}
		drm_gpusvm_range_unmap_pages(gpusvm, r, &ctx);
		if (mmu_range->event == MMU_NOTIFY_UNMAP) {
			drm_gpusvm_range_set_unmapped(r, mmu_range);
			spin_lock(&svm->gc_lock);
			if (list_empty(&mr->gc_link))
				list_add_tail(&mr->gc_link, &svm->gc);
			spin_unlock(&svm->gc_lock);
		}
	}
	if (dropped)
		obj->invalidated = true;

	rec.pages_dropped = dropped;
	rec.duration_ns = ktime_get_ns() - rec.timestamp_ns;
	mdrm_count(obj, MDRM_CNT(invalidations), 1);
	mdrm_count(obj, MDRM_CNT(by_event) + rec.event, 1);
	mdrm_count(obj, MDRM_CNT(pages_dropped), dropped);
	mdrm_count(obj, MDRM_CNT(pages_valid), -(s64)dropped);
	mdrm_log_append(obj, &rec);
}

static const struct drm_gpusvm_ops mdrm_svm_ops = {
	.range_alloc = mdrm_svm_range_alloc,
	.range_free = mdrm_svm_range_free,
	.invalidate = mdrm_svm_invalidate,
};

/* Remove the ranges the CPU unmapped (xe: the garbage collector). */
static void mdrm_svm_gc(struct mdrm_svm *svm)
{
	struct mdrm_svm_range *mr;

	lockdep_assert_held(&svm->lock);
	for (;;) {
		spin_lock(&svm->gc_lock);
		mr = list_first_entry_or_null(&svm->gc, struct mdrm_svm_range,
					      gc_link);
		if (mr)
			list_del_init(&mr->gc_link);
		spin_unlock(&svm->gc_lock);
		if (!mr)
			break;
		/* unmaps, frees the range, and its notifier once empty */
		drm_gpusvm_range_remove(&svm->gpusvm, &mr->base);
	}
}

/* The device's page for page k of one DMA mapping, or NULL. */
static struct page *mdrm_svm_addr_page(struct device *dev,
				       const struct drm_pagemap_addr *a,
				       unsigned long k)
{
	unsigned long pfn;

	if (a->proto != DRM_INTERCONNECT_SYSTEM || k >= (1UL << a->order))
		return NULL;
	pfn = PHYS_PFN(dma_to_phys(dev, a->addr)) + k;
	return pfn_valid(pfn) ? pfn_to_page(pfn) : NULL;
}

/* Page idx (of the range) of a mapped range: walk its dma_addr[] entries. */
static struct page *mdrm_svm_range_page(struct mdrm_svm *svm,
					struct drm_gpusvm_range *r,
					unsigned long idx)
{
	unsigned long i = 0, j = 0;

	while (i + (1UL << r->pages.dma_addr[j].order) <= idx)
		i += 1UL << r->pages.dma_addr[j++].order;
	return mdrm_svm_addr_page(svm->gpusvm.drm->dev, &r->pages.dma_addr[j],
				  idx - i);
}

/*
 * Bind a range for the device: get_pages (faulting the CPU side in, DMA
 * mapping), then commit under the notifier lock if no invalidation came in
 * between.  Returns 0 with the notifier lock held for read, -EAGAIN when the
 * caller should look the range up again, or an error.
 */
static int mdrm_svm_bind(struct mdrm_obj *obj, struct drm_gpusvm_range *r,
			 u32 *populates, u32 *retries)
{
	struct mdrm_svm *svm = obj->svm;
	struct mdrm_svm_range *mr = to_mdrm_range(r);
	struct drm_gpusvm_ctx ctx = { .read_only = mdrm_read_only(obj) };
	unsigned long first, n;
	u64 delay_ns;
	u8 st;
	int ret;

	lockdep_assert_held(&svm->lock);
	drm_gpusvm_notifier_lock(&svm->gpusvm);
	if (mr->bound)
		return 0;
	drm_gpusvm_notifier_unlock(&svm->gpusvm);

	/* SVM counts get_pages calls here: hmm_range_fault() runs inside */
	mdrm_count(obj, MDRM_CNT(hmm_range_fault_calls), 1);
	ret = drm_gpusvm_range_get_pages(&svm->gpusvm, r, &ctx);
	if (ret) {
		bool unmapped;

		/* the CPU unmapped (part of) the range: collect, look up again */
		drm_gpusvm_notifier_lock(&svm->gpusvm);
		unmapped = r->pages.flags.unmapped;
		drm_gpusvm_notifier_unlock(&svm->gpusvm);
		if (unmapped) {
			(*retries)++;
			return -EAGAIN;
		}
		return ret;
	}

	/* the same page-table-build window as mdrm_populate() offers */
	delay_ns = READ_ONCE(obj->populate_delay_ns);
	if (delay_ns)
		fsleep(div_u64(delay_ns, NSEC_PER_USEC));

	drm_gpusvm_notifier_lock(&svm->gpusvm);
	if (!drm_gpusvm_range_pages_valid(&svm->gpusvm, r)) {
		drm_gpusvm_notifier_unlock(&svm->gpusvm);
		mdrm_count(obj, MDRM_CNT(read_retry), 1);
		(*retries)++;
		return -EAGAIN;
	}
	first = (drm_gpusvm_range_start(r) - obj->start) >> PAGE_SHIFT;
	n = drm_gpusvm_range_size(r) >> PAGE_SHIFT;
	st = MDRM_ST_VALID | (mdrm_read_only(obj) ? 0 : MDRM_ST_WRITE);
	memset(obj->state + first, st, n);
	mr->bound = true;
	if (obj->invalidated) {
		obj->invalidated = false;
		mdrm_count(obj, MDRM_CNT(revalidations), 1);
	}
	mdrm_count(obj, MDRM_CNT(populates), 1);
	mdrm_count(obj, MDRM_CNT(pages_valid), n);
	(*populates)++;
	return 0;
}

/* Copy [addr, addr + len) of a bound range; notifier lock held for read. */
static void mdrm_svm_copy(struct mdrm_obj *obj, struct drm_gpusvm_range *r,
			  unsigned long addr, size_t len, void *buf, bool write)
{
	size_t done = 0;

	lockdep_assert_held_read(&obj->svm->gpusvm.notifier_lock);
	while (done < len) {
		unsigned long a = addr + done;
		size_t pofs = offset_in_page(a);
		size_t n = min_t(size_t, PAGE_SIZE - pofs, len - done);
		struct page *page = mdrm_svm_range_page(obj->svm, r,
				(a - drm_gpusvm_range_start(r)) >> PAGE_SHIFT);
		void *va;

		/* dma-direct was checked at creation: a mapping is a page */
		if (WARN_ON_ONCE(!page))
			return;
		va = kmap_local_page(page);
		if (write) {
			memcpy(va + pofs, buf + done, n);
			/* mapped by the CPU (the invalidation waits): dirty it */
			folio_mark_dirty(page_folio(page));
		} else {
			memcpy(buf + done, va + pofs, n);
		}
		kunmap_local(va);
		done += n;
	}
}

static int mdrm_svm_errno(int err)
{
	/* no VMA at the address (find_or_insert) is what HMM calls -EFAULT */
	return err == -ENOENT ? -EFAULT : err;
}

/*
 * A device access to [offset, offset + len) of the object: a device fault at
 * each range it touches (drm_gpusvm_range_find_or_insert, then bind), then
 * the copy with the notifier lock held.  buf NULL only faults (POPULATE).
 * No lock held on entry.
 */
int mdrm_svm_access(struct mdrm_obj *obj, u64 offset, size_t len, void *buf,
		    bool write, u32 *populates, u32 *retries)
{
	struct mdrm_svm *svm = obj->svm;
	struct drm_gpusvm_ctx ctx = { .read_only = mdrm_read_only(obj) };
	unsigned long addr = obj->start + offset, end = addr + len;
	unsigned long timeout = jiffies + 10 * HZ;
	size_t done = 0;
	int ret = 0;

	mutex_lock(&svm->lock);
	while (addr < end) {
		struct drm_gpusvm_range *r;
		unsigned long rend;

		/* an invalidation storm may win every time: bound the wait */
		if (fatal_signal_pending(current)) {
			ret = -EINTR;
			break;
		}
		if (time_after(jiffies, timeout)) {
			ret = -EBUSY;
			break;
		}
		/* always process UNMAPs first, so the ranges are current */
		mdrm_svm_gc(svm);
		r = drm_gpusvm_range_find_or_insert(&svm->gpusvm, addr,
						    obj->start,
						    mdrm_svm_obj_end(obj), &ctx);
		if (IS_ERR(r)) {
			ret = mdrm_svm_errno(PTR_ERR(r));
			break;
		}
		ret = mdrm_svm_bind(obj, r, populates, retries);
		if (ret == -EAGAIN)
			continue;
		if (ret)
			break;
		rend = min(end, drm_gpusvm_range_end(r));
		if (buf)
			mdrm_svm_copy(obj, r, addr, rend - addr, buf + done,
				      write);
		drm_gpusvm_notifier_unlock(&svm->gpusvm);
		done += rend - addr;
		addr = rend;
	}
	mutex_unlock(&svm->lock);
	return ret;
}

/* SNAPSHOT reads obj->state[] and the ranges under both locks. */
void mdrm_svm_view_lock(struct mdrm_obj *obj)
{
	mutex_lock(&obj->svm->lock);
	drm_gpusvm_notifier_lock(&obj->svm->gpusvm);
}

void mdrm_svm_view_unlock(struct mdrm_obj *obj)
{
	drm_gpusvm_notifier_unlock(&obj->svm->gpusvm);
	mutex_unlock(&obj->svm->lock);
}

/* The pfn the device would use for object page idx (valid), under the view lock. */
unsigned long mdrm_svm_dev_pfn(struct mdrm_obj *obj, unsigned long idx)
{
	unsigned long addr = obj->start + (idx << PAGE_SHIFT);
	struct drm_gpusvm_notifier *notifier;
	struct drm_gpusvm_range *r;
	struct page *page;

	lockdep_assert_held(&obj->svm->gpusvm.notifier_lock);
	notifier = drm_gpusvm_notifier_find(&obj->svm->gpusvm, addr, addr + 1);
	if (!notifier)
		return 0;
	r = drm_gpusvm_range_find(notifier, addr, addr + 1);
	if (!r || !to_mdrm_range(r)->bound || !r->pages.dma_addr)
		return 0;
	page = mdrm_svm_range_page(obj->svm, r,
				   (addr - drm_gpusvm_range_start(r)) >> PAGE_SHIFT);
	return page ? page_to_pfn(page) : 0;
}

/*
 * The device's DMA: a 64-bit mask, so that dma-direct maps every page where
 * it is instead of bouncing it through swiotlb.
 */
void mdrm_svm_device_init(struct device *dev)
{
	if (dma_coerce_mask_and_coherent(dev, DMA_BIT_MASK(64)))
		dev_info(dev, "no 64-bit DMA mask: MODE_SVM objects refused\n");
}

static bool mdrm_svm_dma_direct(struct device *dev)
{
	return !device_iommu_mapped(dev) && !get_dma_ops(dev) &&
	       !is_swiotlb_force_bounce(dev) &&
	       dma_get_mask(dev) == DMA_BIT_MASK(64);
}

int mdrm_svm_obj_init(struct mdrm_obj *obj)
{
	struct drm_device *drm = &obj->mdev->drm;
	struct mdrm_svm *svm;
	int ret;

	/* the device reads pages back from DMA addresses: dma-direct only */
	if (!mdrm_svm_dma_direct(drm->dev))
		return -EOPNOTSUPP;

	svm = kzalloc(sizeof(*svm), GFP_KERNEL);
	if (!svm)
		return -ENOMEM;
	svm->obj = obj;
	mutex_init(&svm->lock);
	spin_lock_init(&svm->gc_lock);
	INIT_LIST_HEAD(&svm->gc);
	obj->svm = svm;

	ret = drm_gpusvm_init(&svm->gpusvm, "mirrordrm SVM", drm, obj->mm,
			      obj->start, obj->npages << PAGE_SHIFT,
			      MDRM_SVM_NOTIFIER_SIZE, &mdrm_svm_ops,
			      mdrm_svm_chunks, ARRAY_SIZE(mdrm_svm_chunks));
	if (ret)
		return ret;
	drm_gpusvm_driver_set_lock(&svm->gpusvm, &svm->lock);
	svm->inited = true;
	return 0;
}

void mdrm_svm_obj_fini(struct mdrm_obj *obj)
{
	struct mdrm_svm *svm = obj->svm;

	if (!svm)
		return;
	if (svm->inited) {
		mutex_lock(&svm->lock);
		/* ranges on the GC list are freed by fini: unlink them first */
		mdrm_svm_gc(svm);
		drm_gpusvm_fini(&svm->gpusvm);
		mutex_unlock(&svm->lock);
	}
	mutex_destroy(&svm->lock);
	kfree(svm);
	obj->svm = NULL;
}
