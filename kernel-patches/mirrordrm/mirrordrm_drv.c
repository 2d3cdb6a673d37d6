// SPDX-License-Identifier: GPL-2.0-only
/*
 * mirrordrm - a mock DRM render driver whose "device" mirrors user memory.
 *
 * Userptr GEM objects register a range of the calling process.  The device
 * keeps its own view of the range's pages, as a GPU keeps its page tables:
 *
 *   GUP, GUP_LONGTERM  pin_user_pages_fast() at creation (FOLL_LONGTERM for
 *                      the second); pinned pages are the device view.
 *   GUP_GET            get_user_pages_fast(): page references without FOLL_PIN,
 *                      how userptr drivers worked before pins were tracked.
 *   HMM                hmm_range_fault() results; no page reference is held.
 *   SVM                drm_gpusvm ranges (mirrordrm_svm.c, which has its own
 *                      locking rules); 6.15 and later.
 *
 * Every object has an mmu_interval_notifier, so every mode sees the mm's
 * invalidations.  What a callback does is chosen per object: HMM drops the
 * device view; GUP objects keep their pages and mark them stale, or with
 * MIRRORDRM_USERPTR_GUP_REPIN release them and pin again at the next use.
 * With MIRRORDRM_BEHAVIOUR_RO_DOWNGRADE, protection changes known to be
 * updates to read-only only remove device write access.
 *
 * Each callback appends a record to the invalidation log of the file that
 * created the object; userspace drains it with DRM_IOCTL_MIRRORDRM_INVAL_READ
 * and can poll() the file for it.
 *
 * Locking
 * -------
 * obj->lock (a mutex) is the driver lock of Documentation/mm/hmm.rst, the
 * lock that serialises command submission against invalidation.  It
 * protects the device view: obj->state[], obj->pages[], obj->pfns[] and
 * obj->invalidated.
 *
 *  - The invalidate callback takes it (mutex_trylock() when the range is not
 *    blockable, returning false if that fails), calls mmu_interval_set_seq()
 *    and updates the device view before the CPU page tables change.
 *  - Populating (hmm_range_fault() or GUP) runs without it, between
 *    mmu_interval_read_begin() and an mmu_interval_read_retry() done under
 *    it; results are installed only when no invalidation came in between.
 *  - Device access copies between the device view and a kernel bounce buffer
 *    under it.  Copies to and from user memory happen outside it: a user copy
 *    can fault, a fault can invalidate this very object, and the callback
 *    would then wait for a lock its own task holds.
 *  - Nothing allocates memory under it, since the callback runs from reclaim
 *    (lockdep primes invalidate_range_start against fs_reclaim).
 *  - Reclaim calls the notifier with a folio locked, so folio locks nest
 *    outside obj->lock: under obj->lock pages are only marked dirty with
 *    folio_mark_dirty(), which is safe while the page is still mapped (the
 *    callback has not run, so truncation is locked out).  Pins are released
 *    with unpin_user_pages_dirty_lock() only without obj->lock held.
 *  - The mmap lock (read) is taken around hmm_range_fault(), remote GUP and
 *    the VMA check at creation, never while holding obj->lock.
 *  - obj->migrate_lock (a mutex) is outermost: ACCESS holds it for the whole
 *    call, MIGRATE and EXCLUSIVE too (mirrordrm_devmem.c), so that no device
 *    copy runs while the object's pages are being moved.  Order:
 *    migrate_lock, then the mmap lock, then (in the notifier) obj->lock.  The
 *    notifier never takes migrate_lock, so a fault in a user copy made under
 *    it (which can migrate a device page back) cannot deadlock.
 *
 * Two-pass objects (MIRRORDRM_USERPTR_TWO_PASS, Linux 7.1+) split the
 * callback in two, as mmu_interval_notifier_ops.invalidate_start and
 * .invalidate_finish.  The core calls the start pass of every notifier the
 * range hits, then the finish pass of each that handed one back, all inside
 * mmu_notifier_invalidate_range_start(): before the CPU page tables change.
 *
 *  - The start pass does what the one-pass callback does under obj->lock
 *    (mutex_trylock() when not blockable, false when that fails or the
 *    device is busy), mmu_interval_set_seq() and clearing the device view:
 *    after it the device starts no access to the range.  The emulated fence
 *    wait and the GUP pages taken out of the view go to the finish pass in a
 *    struct mdrm_finish allocated per invocation with GFP_NOWAIT, before
 *    obj->lock is taken (callbacks run in parallel, each needs its own).
 *    Without it (allocation failed, or more pages than fit in one page) the
 *    start pass does everything and flags the record FINISH_FALLBACK.
 *  - The finish pass runs in the same context as the start pass and inherits
 *    its constraints: it gets no range, so blockability is decided by the
 *    start pass, which only hands over a fence wait (a sleep) for a blockable
 *    range; a non-blockable range only hands over page releases, which do
 *    not sleep.  It is still inside the notifier's lockdep map, so it
 *    allocates nothing and must not take locks held around reclaim (folio
 *    locks: pages are released with folio_mark_dirty() + unpin, as under
 *    obj->lock, safe because the CPU still maps them).
 *  - The finish pass takes no obj->lock: the pages it releases left the
 *    device view in the start pass and belong to its struct mdrm_finish
 *    alone, the record is its own, counters are atomic.  The view cannot be
 *    rebuilt meanwhile: a populate in flight fails mmu_interval_read_retry()
 *    (the sequence moved in the start pass) and a new one waits in
 *    mmu_interval_read_begin() until the invalidation ends, after the finish
 *    pass.  Device access to the rest of the object goes on during the wait.
 *  - Object lifetime: mdrm_gem_free() calls mmu_interval_notifier_remove(),
 *    which, while an invalidation is in progress, waits for its sequence to
 *    be released (mn_itree_inv_end(), after every finish pass of it).  So an
 *    object is never freed with a finish pass pending, and the file state it
 *    references lives as long.
 *  - Counters: pages_valid moves in the start pass with the view; the record
 *    and invalidations, by_event, pages_dropped, pages_downgraded and
 *    pages_pinned (as pages are released) in the finish pass, so one record
 *    per invalidation per object, as for one-pass objects.
 *
 * fpriv->lock (a spinlock) protects the log ring; the callback takes it
 * after dropping obj->lock.  Counters are atomic64_t and need no lock.
 * Object lifetime is the GEM reference count; an object holds a reference on
 * the mm (mmgrab) and on the file state of its creator, so it may outlive
 * both the process and the file.
 */

#include <linux/module.h>
#include <linux/platform_device.h>
#include <linux/mm.h>
#include <linux/mmu_notifier.h>
#include <linux/hmm.h>
#include <linux/highmem.h>
#include <linux/sched/mm.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/vmalloc.h>
#include <linux/uaccess.h>
#include <linux/poll.h>
#include <linux/delay.h>
#include <linux/capability.h>
#include <linux/version.h>

#include <drm/drm_drv.h>
#include <drm/drm_file.h>
#include <drm/drm_gem.h>
#include <drm/drm_ioctl.h>
#include <drm/drm_device.h>

#include "uapi/mirrordrm.h"

#define DRIVER_NAME	"mirrordrm"
#define DRIVER_DESC	"mock DRM driver mirroring user memory (GUP and HMM)"
/*
 * struct drm_driver lost .date in 6.14; DRM_IOCTL_VERSION has answered "0"
 * for it since 6.12 whatever the driver says.
 */
#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 14, 0)
#define DRIVER_DATE	"20261122"
#endif
/* mmu_interval_notifier_ops.invalidate_start / invalidate_finish */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(7, 1, 0)
#define MDRM_HAVE_TWO_PASS
#endif
#define DRIVER_MAJOR	1
#define DRIVER_MINOR	0

#include "mirrordrm.h"

static void mdrm_fpriv_free(struct kref *ref)
{
	struct mdrm_fpriv *fpriv = container_of(ref, struct mdrm_fpriv, ref);

	kvfree(fpriv->ring);
	kfree(fpriv);
}

u32 mdrm_event(enum mmu_notifier_event ev)
{
	switch (ev) {
	case MMU_NOTIFY_UNMAP:
		return MIRRORDRM_EVENT_UNMAP;
	case MMU_NOTIFY_CLEAR:
		return MIRRORDRM_EVENT_CLEAR;
	case MMU_NOTIFY_PROTECTION_VMA:
		return MIRRORDRM_EVENT_PROTECTION_VMA;
	case MMU_NOTIFY_PROTECTION_PAGE:
		return MIRRORDRM_EVENT_PROTECTION_PAGE;
	case MMU_NOTIFY_SOFT_DIRTY:
		return MIRRORDRM_EVENT_SOFT_DIRTY;
	case MMU_NOTIFY_RELEASE:
		return MIRRORDRM_EVENT_RELEASE;
	case MMU_NOTIFY_MIGRATE:
		return MIRRORDRM_EVENT_MIGRATE;
	case MMU_NOTIFY_EXCLUSIVE:
		return MIRRORDRM_EVENT_EXCLUSIVE;
	default:
		return MIRRORDRM_EVENT_UNKNOWN;
	}
}

/*
 * Is this invalidation known to leave the range readable?
 * PROTECTION_PAGE is only used to write-protect (fork's COW setup, page
 * cleaning for writeback), SOFT_DIRTY only to write-protect for soft-dirty
 * tracking (clear_refs).  PROTECTION_VMA comes from mprotect(), NUMA
 * hinting and userfaultfd write-protect; only before 6.5 does the kernel
 * tell whether read access remains (mmu_notifier_range_update_to_read_only(),
 * removed with the vma field of struct mmu_notifier_range).  Later kernels
 * give a driver no way to know, so there it counts as a full invalidation.
 */
bool mdrm_update_to_read_only(const struct mmu_notifier_range *range)
{
	if (range->event == MMU_NOTIFY_PROTECTION_PAGE ||
	    range->event == MMU_NOTIFY_SOFT_DIRTY)
		return true;
#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 5, 0)
	if (range->event == MMU_NOTIFY_PROTECTION_VMA)
		return mmu_notifier_range_update_to_read_only(range);
#endif
	return false;
}

void mdrm_log_append(struct mdrm_obj *obj,
			    struct drm_mirrordrm_inval_record *rec)
{
	struct mdrm_fpriv *fpriv = obj->fpriv;
	bool lost = false;

	spin_lock(&fpriv->lock);
	rec->seq = ++fpriv->next_seq;
	if (fpriv->count == MDRM_LOG_SIZE) {
		/* keep the oldest records; count what is lost, never silently */
		fpriv->lost++;
		fpriv->lost_total++;
		lost = true;
	} else {
		fpriv->ring[(fpriv->head + fpriv->count) % MDRM_LOG_SIZE] = *rec;
		fpriv->count++;
	}
	spin_unlock(&fpriv->lock);
	if (lost)
		mdrm_count(obj, MDRM_CNT(log_lost), 1);
	wake_up_interruptible(&fpriv->wq);
}

/* Release one referenced page of a GUP-mode object.  No obj->lock held. */
static void mdrm_release_page(struct mdrm_obj *obj, struct page *page, bool dirty)
{
	if (obj->mode == MIRRORDRM_USERPTR_MODE_GUP_GET) {
		if (dirty)
			set_page_dirty_lock(page);
		put_page(page);
	} else {
		unpin_user_pages_dirty_lock(&page, 1, dirty);
	}
}

/*
 * Release one page from inside the invalidate callback, under obj->lock:
 * the page is still mapped by the CPU, so folio_mark_dirty() without the
 * folio lock is safe, and the reference drop cannot free it.
 */
static void mdrm_release_page_locked(struct mdrm_obj *obj, struct page *page, bool dirty)
{
	if (dirty)
		folio_mark_dirty(page_folio(page));
	if (obj->mode == MIRRORDRM_USERPTR_MODE_GUP_GET)
		put_page(page);
	else
		unpin_user_page(page);
}

/* Pages [*first, *last) of obj that range covers. */
static void mdrm_range_pages(const struct mdrm_obj *obj,
			     const struct mmu_notifier_range *range,
			     unsigned long *first, unsigned long *last)
{
	*first = (max(range->start, obj->start) - obj->start) >> PAGE_SHIFT;
	*last = (min(range->end, obj->start + (obj->npages << PAGE_SHIFT)) -
		 obj->start + PAGE_SIZE - 1) >> PAGE_SHIFT;
	if (*last > obj->npages)
		*last = obj->npages;
}

/* The record fields known at callback entry. */
static void mdrm_inval_begin(struct mdrm_obj *obj,
			     const struct mmu_notifier_range *range,
			     struct drm_mirrordrm_inval_record *rec)
{
	rec->timestamp_ns = ktime_get_ns();
	rec->start = range->start;
	rec->end = range->end;
	rec->event = mdrm_event(range->event);
	rec->handle = READ_ONCE(obj->handle);
	rec->pid = current->tgid;
	rec->owner = mdrm_owner_id(range->owner);
	if (mmu_notifier_range_blockable(range))
		rec->flags |= MIRRORDRM_RECORD_BLOCKABLE;
}

/*
 * The object's own MIGRATE or EXCLUSIVE call, from the task doing it: that
 * call maps the result into the device view itself (and holds
 * obj->migrate_lock, so no device access runs meanwhile), so the callback
 * only logs it.  A CPU fault-back carries our owner too but comes from
 * another context, and drops the device's mapping as usual.  Returns true
 * when the record was appended and the callback is done.
 */
static bool mdrm_inval_own(struct mdrm_obj *obj,
			   const struct mmu_notifier_range *range,
			   struct drm_mirrordrm_inval_record *rec)
{
	if ((range->event != MMU_NOTIFY_MIGRATE &&
	     range->event != MMU_NOTIFY_EXCLUSIVE) ||
	    !range->owner || range->owner != obj->mdev->owner ||
	    READ_ONCE(obj->migrator) != current)
		return false;
	rec->flags |= MIRRORDRM_RECORD_OWN_MIGRATION;
	rec->duration_ns = ktime_get_ns() - rec->timestamp_ns;
	mdrm_count(obj, MDRM_CNT(own_migrations), 1);
	mdrm_count(obj, MDRM_CNT(by_event) + rec->event, 1);
	mdrm_log_append(obj, rec);
	return true;
}

/*
 * Take the driver lock for an invalidation: mutex_lock() when the range is
 * blockable; otherwise mutex_trylock(), and only for an idle device (no
 * emulated fence).  On failure the WOULD_BLOCK record is appended and the
 * callback must return false.
 */
static bool mdrm_inval_lock(struct mdrm_obj *obj,
			    struct drm_mirrordrm_inval_record *rec, u64 fence)
{
	if (rec->flags & MIRRORDRM_RECORD_BLOCKABLE) {
		mutex_lock(&obj->lock);
		return true;
	}
	if (!fence && mutex_trylock(&obj->lock))
		return true;
	/* A busy device (or a held lock) cannot be waited for here. */
	rec->flags |= MIRRORDRM_RECORD_WOULD_BLOCK;
	rec->duration_ns = ktime_get_ns() - rec->timestamp_ns;
	mdrm_count(obj, MDRM_CNT(would_block), 1);
	mdrm_log_append(obj, rec);
	return false;
}

/* A GUP page taken out of the device view, to be released later. */
struct mdrm_dpage {
	struct page *page;
	bool dirty;
};

/*
 * Update the device view of the pages range covers, under obj->lock: drop
 * them, keep them marked stale (GUP without REPIN) or only remove write
 * access (read-only downgrade).  GUP pages that are dropped are released
 * here, or with @defer moved there (*@ndefer of them) for the finish pass
 * to release.  Fills the record's page counts and flags; returns the pages
 * released here.
 */
static u64 mdrm_inval_view(struct mdrm_obj *obj,
			   const struct mmu_notifier_range *range,
			   struct drm_mirrordrm_inval_record *rec,
			   struct mdrm_dpage *defer, unsigned int *ndefer)
{
	u32 behaviour = READ_ONCE(obj->behaviour);
	u64 dropped = 0, downgraded = 0, unpinned = 0;
	unsigned long first, last, i;
	bool downgrade, ro_update, keep;

	lockdep_assert_held(&obj->lock);
	ro_update = mdrm_update_to_read_only(range);
	if (ro_update)
		rec->flags |= MIRRORDRM_RECORD_READ_ONLY;
	downgrade = ro_update && (behaviour & MIRRORDRM_BEHAVIOUR_RO_DOWNGRADE);
	keep = mdrm_is_gup(obj) && !(obj->uflags & MIRRORDRM_USERPTR_GUP_REPIN);

	mdrm_range_pages(obj, range, &first, &last);
	for (i = first; i < last; i++) {
		u8 st = obj->state[i];

		if (!(st & MDRM_ST_VALID))
			continue;
		if (downgrade) {
			if (st & MDRM_ST_WRITE) {
				obj->state[i] = st & ~MDRM_ST_WRITE;
				downgraded++;
			}
			continue;
		}
		if (keep) {
			/* the pin keeps the page; the device goes on using it */
			obj->state[i] = st | MDRM_ST_STALE;
			continue;
		}
		obj->state[i] = 0;
		dropped++;
		if (obj->pages && obj->pages[i]) {
			if (defer) {
				defer[*ndefer].page = obj->pages[i];
				defer[*ndefer].dirty = st & MDRM_ST_WRITE;
				(*ndefer)++;
			} else {
				mdrm_release_page_locked(obj, obj->pages[i],
							 st & MDRM_ST_WRITE);
				unpinned++;
			}
			obj->pages[i] = NULL;
		}
		if (obj->pfns)
			obj->pfns[i] = 0;
	}
	if (dropped)
		obj->invalidated = true;

	if (keep && !downgrade)
		rec->flags |= MIRRORDRM_RECORD_KEPT_STALE;
	if (downgrade)
		rec->flags |= MIRRORDRM_RECORD_DOWNGRADED;
	rec->pages_dropped = dropped;
	rec->pages_downgraded = downgraded;
	return unpinned;
}

/*
 * The counters of a completed invalidation and its record.  pages_valid
 * moved when the view was updated (mdrm_inval_view()'s caller), the rest
 * moves here, pages_pinned by the pages released (unpinned).
 */
static void mdrm_inval_done(struct mdrm_obj *obj,
			    struct drm_mirrordrm_inval_record *rec, u64 unpinned)
{
	mdrm_count(obj, MDRM_CNT(invalidations), 1);
	mdrm_count(obj, MDRM_CNT(by_event) + rec->event, 1);
	mdrm_count(obj, MDRM_CNT(pages_dropped), rec->pages_dropped);
	mdrm_count(obj, MDRM_CNT(pages_downgraded), rec->pages_downgraded);
	mdrm_count(obj, MDRM_CNT(pages_pinned), -(s64)unpinned);
	mdrm_log_append(obj, rec);
}

/* Emulated wait for the device's fences (blockable ranges only). */
static void mdrm_fence_wait(struct drm_mirrordrm_inval_record *rec, u64 fence)
{
	if (!fence)
		return;
	fsleep(DIV_ROUND_UP_ULL(fence, NSEC_PER_USEC));
	rec->flags |= MIRRORDRM_RECORD_FENCE_WAIT;
}

/* One-pass callback (mmu_interval_notifier_ops.invalidate). */
static bool mdrm_invalidate(struct mmu_interval_notifier *mni,
			    const struct mmu_notifier_range *range,
			    unsigned long cur_seq)
{
	struct mdrm_obj *obj = container_of(mni, struct mdrm_obj, notifier);
	struct drm_mirrordrm_inval_record rec = {};
	u64 fence = READ_ONCE(obj->fence_wait_ns);
	u64 unpinned;

	mdrm_inval_begin(obj, range, &rec);
	if (mdrm_inval_own(obj, range, &rec))
		return true;
	if (!mdrm_inval_lock(obj, &rec, fence))
		return false;

	mmu_interval_set_seq(mni, cur_seq);
	/* emulate waiting for the device's fences, lock held */
	mdrm_fence_wait(&rec, fence);
	unpinned = mdrm_inval_view(obj, range, &rec, NULL, NULL);
	mutex_unlock(&obj->lock);

	mdrm_count(obj, MDRM_CNT(pages_valid), -(s64)rec.pages_dropped);
	rec.duration_ns = ktime_get_ns() - rec.timestamp_ns;
	mdrm_inval_done(obj, &rec, unpinned);
	return true;
}

static const struct mmu_interval_notifier_ops mdrm_mn_ops = {
	.invalidate = mdrm_invalidate,
};

#ifdef MDRM_HAVE_TWO_PASS
/*
 * The state one invocation of the start pass hands to its finish pass.
 * Callbacks on one object can run in parallel (two threads unmapping parts
 * of it), so each invocation allocates its own.
 */
struct mdrm_finish {
	struct mmu_interval_notifier_finish base;
	struct drm_mirrordrm_inval_record rec;	/* duration_ns: the start pass */
	u64 fence_ns;				/* the wait left to the finish pass */
	unsigned int npages;			/* GUP pages to release */
	struct mdrm_dpage pages[];
};

/*
 * At most one page per invocation: order-0 GFP_NOWAIT allocations are the
 * ones that succeed without reclaim.  An invalidation that would release
 * more GUP pages than fit does not try, and runs as one pass.
 */
#define MDRM_FINISH_MAX_PAGES \
	((PAGE_SIZE - sizeof(struct mdrm_finish)) / sizeof(struct mdrm_dpage))

/*
 * Start pass: under the driver lock, as the one-pass callback, advance the
 * sequence and clear the device view of the range, so that from here on the
 * device starts no access to those pages.  The fence wait and the release of
 * the GUP pages taken out of the view are left to the finish pass.
 */
static bool mdrm_invalidate_start(struct mmu_interval_notifier *mni,
				  const struct mmu_notifier_range *range,
				  unsigned long cur_seq,
				  struct mmu_interval_notifier_finish **finish)
{
	struct mdrm_obj *obj = container_of(mni, struct mdrm_obj, notifier);
	struct drm_mirrordrm_inval_record rec = {};
	u64 fence = READ_ONCE(obj->fence_wait_ns);
	struct mdrm_finish *fin = NULL;
	unsigned long first, last, n = 0;
	u64 unpinned;

	mdrm_inval_begin(obj, range, &rec);
	rec.flags |= MIRRORDRM_RECORD_TWO_PASS;
	if (mdrm_inval_own(obj, range, &rec))
		return true;	/* *finish stays NULL: no second pass */

	/* allocated before obj->lock is taken: nothing allocates under it */
	mdrm_range_pages(obj, range, &first, &last);
	if (mdrm_is_gup(obj) && (obj->uflags & MIRRORDRM_USERPTR_GUP_REPIN))
		n = last - first;
	if (n <= MDRM_FINISH_MAX_PAGES)
		fin = kmalloc(struct_size(fin, pages, n),
			      GFP_NOWAIT | __GFP_NOWARN);

	if (!mdrm_inval_lock(obj, &rec, fence)) {
		kfree(fin);
		return false;
	}
	mmu_interval_set_seq(mni, cur_seq);

	if (!fin) {
		/* no finish pass: everything here, as mdrm_invalidate() */
		rec.flags |= MIRRORDRM_RECORD_FINISH_FALLBACK;
		mdrm_fence_wait(&rec, fence);
		unpinned = mdrm_inval_view(obj, range, &rec, NULL, NULL);
		mutex_unlock(&obj->lock);
		mdrm_count(obj, MDRM_CNT(pages_valid), -(s64)rec.pages_dropped);
		rec.duration_ns = ktime_get_ns() - rec.timestamp_ns;
		mdrm_inval_done(obj, &rec, unpinned);
		return true;
	}

	fin->npages = 0;
	mdrm_inval_view(obj, range, &rec, fin->pages, &fin->npages);
	mutex_unlock(&obj->lock);
	mdrm_count(obj, MDRM_CNT(pages_valid), -(s64)rec.pages_dropped);

	/* a non-blockable range got here only with no fence to wait for */
	fin->fence_ns = fence;
	rec.duration_ns = ktime_get_ns() - rec.timestamp_ns;
	fin->rec = rec;
	*finish = &fin->base;
	return true;
}

/*
 * Finish pass: runs after the start pass of every notifier of this
 * invalidation, still before the CPU page tables change, without obj->lock
 * (see the locking comment at the top).
 */
static void mdrm_invalidate_finish(struct mmu_interval_notifier_finish *finish)
{
	struct mdrm_finish *fin = container_of(finish, struct mdrm_finish, base);
	struct mdrm_obj *obj = container_of(finish->notifier, struct mdrm_obj,
					    notifier);
	u64 t0 = ktime_get_ns();
	unsigned int i;

	mdrm_fence_wait(&fin->rec, fin->fence_ns);
	/* still mapped by the CPU: released as under obj->lock */
	for (i = 0; i < fin->npages; i++)
		mdrm_release_page_locked(obj, fin->pages[i].page,
					 fin->pages[i].dirty);
	fin->rec.finish_ns = ktime_get_ns() - t0;
	mdrm_inval_done(obj, &fin->rec, fin->npages);
	kfree(fin);
}

static const struct mmu_interval_notifier_ops mdrm_mn_ops_two_pass = {
	.invalidate_start = mdrm_invalidate_start,
	.invalidate_finish = mdrm_invalidate_finish,
};
#endif /* MDRM_HAVE_TWO_PASS */

static const struct mmu_interval_notifier_ops *mdrm_ops(u32 uflags)
{
#ifdef MDRM_HAVE_TWO_PASS
	if (uflags & MIRRORDRM_USERPTR_TWO_PASS)
		return &mdrm_mn_ops_two_pass;
#endif
	return &mdrm_mn_ops;
}

/* Take references on n pages at addr for a GUP-mode object; no locks held. */
static int mdrm_gup(struct mdrm_obj *obj, unsigned long addr,
		    unsigned long n, struct page **pages)
{
	unsigned int gup_flags = mdrm_read_only(obj) ? 0 : FOLL_WRITE;
	bool get = obj->mode == MIRRORDRM_USERPTR_MODE_GUP_GET;
	long got;

	if (obj->mode == MIRRORDRM_USERPTR_MODE_GUP_LONGTERM)
		gup_flags |= FOLL_LONGTERM;

	if (current->mm == obj->mm) {
		if (get)
			got = get_user_pages_fast(addr, n, gup_flags, pages);
		else
			got = pin_user_pages_fast(addr, n, gup_flags, pages);
	} else {
		/* another process using an inherited file: remote GUP */
		if (!mmget_not_zero(obj->mm))
			return -EFAULT;
		mmap_read_lock(obj->mm);
#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 5, 0)
		if (get)
			got = get_user_pages_remote(obj->mm, addr, n, gup_flags,
						    pages, NULL, NULL);
		else
			got = pin_user_pages_remote(obj->mm, addr, n, gup_flags,
						    pages, NULL, NULL);
#else
		if (get)
			got = get_user_pages_remote(obj->mm, addr, n, gup_flags,
						    pages, NULL);
		else
			got = pin_user_pages_remote(obj->mm, addr, n, gup_flags,
						    pages, NULL);
#endif
		mmap_read_unlock(obj->mm);
		mmput(obj->mm);
	}

	mdrm_count(obj, MDRM_CNT(gup_calls), 1);
	if (got == n) {
		mdrm_count(obj, MDRM_CNT(gup_pages), n);
		return 0;
	}
	if (got > 0) {
		/* partial: give back what was taken, report the hole */
		if (get) {
			long i;

			for (i = 0; i < got; i++)
				put_page(pages[i]);
		} else {
			unpin_user_pages(pages, got);
		}
	}
	return got < 0 ? (int)got : -EFAULT;
}

/*
 * Build the device view of pages [first, first + n) (n <= MDRM_CHUNK_PAGES):
 * collect pages or pfns without obj->lock, install them under it unless an
 * invalidation collided, in which case start again.  Called with no lock held.
 */
static int mdrm_populate(struct mdrm_obj *obj, unsigned long first,
			 unsigned long n, u32 *retries)
{
	unsigned long timeout = jiffies + msecs_to_jiffies(HMM_RANGE_DEFAULT_TIMEOUT);
	unsigned long addr = obj->start + (first << PAGE_SHIFT);
	bool gup = mdrm_is_gup(obj);
	struct page **pages = NULL;
	unsigned long *pfns = NULL;
	unsigned long i, seq;
	s64 valid_delta, pinned_delta;
	u64 delay_ns;
	int ret;

	if (gup)
		pages = kvcalloc(n, sizeof(*pages), GFP_KERNEL);
	else
		pfns = kvcalloc(n, sizeof(*pfns), GFP_KERNEL);
	if (!pages && !pfns)
		return -ENOMEM;

	for (;;) {
		if (fatal_signal_pending(current)) {
			ret = -EINTR;
			goto out;
		}
		if (time_after(jiffies, timeout)) {
			ret = -EBUSY;
			goto out;
		}

		if (gup) {
			seq = mmu_interval_read_begin(&obj->notifier);
			ret = mdrm_gup(obj, addr, n, pages);
			if (ret)
				goto out;
		} else {
			struct hmm_range range = {
				.notifier = &obj->notifier,
				.start = addr,
				.end = addr + (n << PAGE_SHIFT),
				.hmm_pfns = pfns,
				.default_flags = HMM_PFN_REQ_FAULT |
					(mdrm_read_only(obj) ? 0 : HMM_PFN_REQ_WRITE),
				/*
				 * pages on a device of our owner stay there and
				 * are mapped as they are; any other device's
				 * are faulted back to system memory first
				 */
				.dev_private_owner = obj->mdev->owner,
			};

			if (!mmget_not_zero(obj->mm)) {
				ret = -EFAULT;
				goto out;
			}
			range.notifier_seq = mmu_interval_read_begin(&obj->notifier);
			mmap_read_lock(obj->mm);
			ret = hmm_range_fault(&range);
			mmap_read_unlock(obj->mm);
			mmput(obj->mm);
			mdrm_count(obj, MDRM_CNT(hmm_range_fault_calls), 1);
			if (ret == -EBUSY) {
				mdrm_count(obj, MDRM_CNT(hmm_range_fault_ebusy), 1);
				(*retries)++;
				continue;
			}
			if (ret)
				goto out;
			seq = range.notifier_seq;
		}

		/*
		 * No lock is held here, so an invalidation can run now and make
		 * the retry check below fail; the optional delay (a sleep, so
		 * other CPUs run meanwhile) makes that window as wide as a test
		 * asks.
		 */
		delay_ns = READ_ONCE(obj->populate_delay_ns);
		if (delay_ns)
			fsleep(div_u64(delay_ns, NSEC_PER_USEC));

		mutex_lock(&obj->lock);
		if (mmu_interval_read_retry(&obj->notifier, seq)) {
			mutex_unlock(&obj->lock);
			mdrm_count(obj, MDRM_CNT(read_retry), 1);
			(*retries)++;
			if (gup) {
				for (i = 0; i < n; i++)
					mdrm_release_page(obj, pages[i], false);
			}
			continue;
		}

		valid_delta = 0;
		pinned_delta = 0;
		for (i = 0; i < n; i++) {
			unsigned long idx = first + i;
			u8 st;

			if (gup) {
				/* swap: the old page (if any) is released below */
				swap(obj->pages[idx], pages[i]);
				if (!pages[i])
					pinned_delta++;
				st = MDRM_ST_VALID;
				if (!mdrm_read_only(obj))
					st |= MDRM_ST_WRITE;
			} else {
				obj->pfns[idx] = pfns[i];
				st = MDRM_ST_VALID;
				if (pfns[i] & HMM_PFN_WRITE)
					st |= MDRM_ST_WRITE;
			}
			if (!(obj->state[idx] & MDRM_ST_VALID))
				valid_delta++;
			obj->state[idx] = st;
		}
		if (obj->invalidated) {
			obj->invalidated = false;
			mdrm_count(obj, MDRM_CNT(revalidations), 1);
		}
		mutex_unlock(&obj->lock);

		mdrm_count(obj, MDRM_CNT(populates), 1);
		mdrm_count(obj, MDRM_CNT(pages_valid), valid_delta);
		mdrm_count(obj, MDRM_CNT(pages_pinned), pinned_delta);
		if (gup) {
			/* pages replaced by the swap above: stale or duplicate */
			for (i = 0; i < n; i++)
				if (pages[i])
					mdrm_release_page(obj, pages[i],
							  !mdrm_read_only(obj));
		}
		ret = 0;
		break;
	}
out:
	kvfree(pages);
	kvfree(pfns);
	return ret;
}

static struct page *mdrm_dev_page(struct mdrm_obj *obj, unsigned long idx)
{
	if (obj->pages)
		return obj->pages[idx];
	return hmm_pfn_to_page(obj->pfns[idx]);
}

/*
 * Copy between the device view of one chunk and buf, under obj->lock, if
 * every page of the chunk is usable for this access.  Returns false if the
 * chunk must be populated first.
 */
static bool mdrm_copy_chunk(struct mdrm_obj *obj, u64 offset, size_t len,
			    void *buf, bool write)
{
	unsigned long first = offset >> PAGE_SHIFT;
	unsigned long last = (offset + len - 1) >> PAGE_SHIFT;
	u8 need = MDRM_ST_VALID | (write ? MDRM_ST_WRITE : 0);
	unsigned long i;
	size_t done = 0;

	lockdep_assert_held(&obj->lock);
	for (i = first; i <= last; i++)
		if ((obj->state[i] & need) != need)
			return false;

	for (i = first; i <= last; i++) {
		size_t pofs = (i == first) ? offset_in_page(offset) : 0;
		size_t n = min_t(size_t, PAGE_SIZE - pofs, len - done);
		struct page *page = mdrm_dev_page(obj, i);
		/* a device-private page: its bytes are in the device's memory */
		struct page *mem = mdrm_devmem_backing(page);
		void *va = kmap_local_page(mem);

		if (write) {
			memcpy(va + pofs, buf + done, n);
			/* HMM holds no pin to dirty at release: dirty it now */
			if (!obj->pages && mem == page)
				folio_mark_dirty(page_folio(page));
		} else {
			memcpy(buf + done, va + pofs, n);
		}
		kunmap_local(va);
		done += n;
	}
	return true;
}

static int mdrm_access_chunk(struct mdrm_obj *obj, u64 offset, size_t len,
			     void *buf, bool write, struct drm_mirrordrm_access *args)
{
	unsigned long first = offset >> PAGE_SHIFT;
	unsigned long n = ((offset + len - 1) >> PAGE_SHIFT) - first + 1;
	unsigned long timeout = jiffies + 10 * HZ;
	int ret;

	for (;;) {
		/* an invalidation storm may win every time: bound the wait */
		if (fatal_signal_pending(current))
			return -EINTR;
		if (time_after(jiffies, timeout))
			return -EBUSY;
		mutex_lock(&obj->lock);
		if (mdrm_copy_chunk(obj, offset, len, buf, write)) {
			mutex_unlock(&obj->lock);
			return 0;
		}
		mutex_unlock(&obj->lock);

		ret = mdrm_populate(obj, first, n, &args->retries);
		if (ret)
			return ret;
		args->populates++;
	}
}

/* The file-state and object lookups shared by the ioctls. */
struct mdrm_obj *mdrm_lookup(struct drm_file *file, u32 handle)
{
	struct drm_gem_object *gem = drm_gem_object_lookup(file, handle);

	return gem ? to_mdrm_obj(gem) : NULL;
}

static void mdrm_gem_free(struct drm_gem_object *gem)
{
	struct mdrm_obj *obj = to_mdrm_obj(gem);
	s64 valid = 0, pinned = 0;
	unsigned long i;

	/* after this no callback runs or will run */
	if (obj->notifier_inserted)
		mmu_interval_notifier_remove(&obj->notifier);
	/* drm_gpusvm_fini(): ranges and notifiers gone, state[] left as it was */
	mdrm_svm_obj_fini(obj);

	for (i = 0; obj->state && i < obj->npages; i++) {
		if (obj->state[i] & MDRM_ST_VALID)
			valid++;
		if (obj->pages && obj->pages[i]) {
			mdrm_release_page(obj, obj->pages[i],
					  obj->state[i] & MDRM_ST_WRITE);
			pinned++;
		}
	}
	if (obj->fpriv) {
		mdrm_count(obj, MDRM_CNT(pages_valid), -valid);
		mdrm_count(obj, MDRM_CNT(pages_pinned), -pinned);
		atomic64_dec(&obj->fpriv->cnt.c[MDRM_CNT(objects)]);
		atomic64_sub(obj->npages, &obj->fpriv->cnt.c[MDRM_CNT(pages)]);
		kref_put(&obj->fpriv->ref, mdrm_fpriv_free);
	}
	if (obj->mm)
		mmdrop(obj->mm);
	kvfree(obj->state);
	kvfree(obj->pages);
	kvfree(obj->pfns);
	mutex_destroy(&obj->migrate_lock);
	mutex_destroy(&obj->lock);
	drm_gem_object_release(gem);
	kfree(obj);
}

static const struct drm_gem_object_funcs mdrm_gem_funcs = {
	.free = mdrm_gem_free,
};

/*
 * Every page of [start, end) must lie in a VMA that GUP and hmm_range_fault
 * can use: holes and VM_IO / VM_PFNMAP mappings are refused with -EFAULT
 * (both would fail later with the same error; refusing at creation keeps a
 * lazily populated HMM object from looking valid).
 */
static int mdrm_check_vmas(struct mm_struct *mm, unsigned long start,
			   unsigned long end)
{
	struct vm_area_struct *vma;
	unsigned long addr = start;
	int ret = 0;

	if (mmap_read_lock_killable(mm))
		return -EINTR;
	while (addr < end) {
		vma = find_vma(mm, addr);
		if (!vma || vma->vm_start > addr ||
		    (vma->vm_flags & (VM_IO | VM_PFNMAP))) {
			ret = -EFAULT;
			break;
		}
		addr = vma->vm_end;
	}
	mmap_read_unlock(mm);
	return ret;
}

static int mdrm_ioctl_userptr(struct drm_device *dev, void *data,
			      struct drm_file *file)
{
	struct drm_mirrordrm_userptr *args = data;
	struct mdrm_fpriv *fpriv = file->driver_priv;
	u32 mode = args->flags & MIRRORDRM_USERPTR_MODE_MASK;
	struct mdrm_obj *obj;
	unsigned long i;
	u32 handle, dummy = 0;
	int ret;

	if (args->flags & ~MIRRORDRM_USERPTR_FLAGS)
		return -EINVAL;
	if (mode < MIRRORDRM_USERPTR_MODE_GUP || mode > MIRRORDRM_USERPTR_MODE_SVM)
		return -EINVAL;
	if ((mode == MIRRORDRM_USERPTR_MODE_HMM ||
	     mode == MIRRORDRM_USERPTR_MODE_SVM) &&
	    (args->flags & MIRRORDRM_USERPTR_GUP_REPIN))
		return -EINVAL;
#ifndef MDRM_HAVE_TWO_PASS
	if (args->flags & MIRRORDRM_USERPTR_TWO_PASS)
		return -EOPNOTSUPP;	/* no invalidate_start/finish before 7.1 */
#endif
	/* the kernel has no drm_gpusvm (CONFIG_DRM_GPUSVM, 6.15+) */
	if (mode == MIRRORDRM_USERPTR_MODE_SVM && !MDRM_HAVE_SVM)
		return -EOPNOTSUPP;
	/* drm_gpusvm registers notifiers of its own, one-pass ones */
	if (mode == MIRRORDRM_USERPTR_MODE_SVM &&
	    (args->flags & MIRRORDRM_USERPTR_TWO_PASS))
		return -EINVAL;
	if (!args->size || !PAGE_ALIGNED(args->address) ||
	    !PAGE_ALIGNED(args->size))
		return -EINVAL;
	if (args->size > MIRRORDRM_USERPTR_MAX_SIZE)
		return -E2BIG;
	if (args->address + args->size < args->address ||
	    !access_ok(u64_to_user_ptr(args->address), args->size))
		return -EFAULT;
	if (!current->mm)
		return -EFAULT;

	ret = mdrm_check_vmas(current->mm, args->address,
			      args->address + args->size);
	if (ret)
		return ret;

	obj = kzalloc(sizeof(*obj), GFP_KERNEL);
	if (!obj)
		return -ENOMEM;
	drm_gem_private_object_init(dev, &obj->base, args->size);
	obj->base.funcs = &mdrm_gem_funcs;
	mutex_init(&obj->lock);
	mutex_init(&obj->migrate_lock);
	obj->mdev = to_mdrm_device(dev);
	obj->start = args->address;
	obj->npages = args->size >> PAGE_SHIFT;
	obj->mode = mode;
	obj->uflags = args->flags;
	obj->behaviour = READ_ONCE(fpriv->behaviour);
	obj->fence_wait_ns = READ_ONCE(fpriv->fence_wait_ns);
	obj->populate_delay_ns = READ_ONCE(fpriv->populate_delay_ns);
	kref_get(&fpriv->ref);
	obj->fpriv = fpriv;
	mmgrab(current->mm);
	obj->mm = current->mm;
	atomic64_set(&obj->cnt.c[MDRM_CNT(objects)], 1);
	atomic64_set(&obj->cnt.c[MDRM_CNT(pages)], obj->npages);
	atomic64_inc(&fpriv->cnt.c[MDRM_CNT(objects)]);
	atomic64_add(obj->npages, &fpriv->cnt.c[MDRM_CNT(pages)]);

	obj->state = kvcalloc(obj->npages, sizeof(*obj->state),
			      GFP_KERNEL_ACCOUNT | __GFP_NOWARN);
	if (mode == MIRRORDRM_USERPTR_MODE_HMM)
		obj->pfns = kvcalloc(obj->npages, sizeof(*obj->pfns),
				     GFP_KERNEL_ACCOUNT | __GFP_NOWARN);
	else if (mdrm_is_gup(obj))
		obj->pages = kvcalloc(obj->npages, sizeof(*obj->pages),
				      GFP_KERNEL_ACCOUNT | __GFP_NOWARN);
	if (!obj->state || (!obj->pfns && !obj->pages &&
			    mode != MIRRORDRM_USERPTR_MODE_SVM)) {
		ret = -ENOMEM;
		goto err_put;
	}

	if (mode == MIRRORDRM_USERPTR_MODE_SVM) {
		/* drm_gpusvm inserts notifiers of its own, range by range */
		ret = mdrm_svm_obj_init(obj);
		if (ret)
			goto err_put;
	} else {
		ret = mmu_interval_notifier_insert(&obj->notifier, current->mm,
						   obj->start, args->size,
						   mdrm_ops(args->flags));
		if (ret)
			goto err_put;
		obj->notifier_inserted = true;
	}

	ret = drm_gem_handle_create(file, &obj->base, &handle);
	if (ret)
		goto err_put;
	WRITE_ONCE(obj->handle, handle);

	if (mode == MIRRORDRM_USERPTR_MODE_SVM) {
		/* POPULATE: one device fault per range, nothing copied */
		if (args->flags & MIRRORDRM_USERPTR_POPULATE) {
			ret = mdrm_svm_access(obj, 0, args->size, NULL, false,
					      &dummy, &dummy);
			if (ret) {
				drm_gem_handle_delete(file, handle);
				goto err_put;
			}
		}
	} else if (mode != MIRRORDRM_USERPTR_MODE_HMM ||
		   (args->flags & MIRRORDRM_USERPTR_POPULATE)) {
		for (i = 0; i < obj->npages; i += MDRM_CHUNK_PAGES) {
			ret = mdrm_populate(obj, i,
					    min_t(unsigned long, MDRM_CHUNK_PAGES,
						  obj->npages - i), &dummy);
			if (ret) {
				drm_gem_handle_delete(file, handle);
				goto err_put;
			}
		}
	}

	drm_gem_object_put(&obj->base);
	args->handle = handle;
	return 0;

err_put:
	drm_gem_object_put(&obj->base);
	return ret;
}

static int mdrm_ioctl_access(struct drm_device *dev, void *data,
			     struct drm_file *file)
{
	struct drm_mirrordrm_access *args = data;
	u8 __user *user = u64_to_user_ptr(args->data);
	bool write = args->flags == MIRRORDRM_ACCESS_WRITE;
	struct mdrm_obj *obj;
	size_t chunk_max = MDRM_CHUNK_PAGES * PAGE_SIZE;
	u64 done = 0;
	void *buf;
	int ret = 0;

	if (args->flags != MIRRORDRM_ACCESS_READ &&
	    args->flags != MIRRORDRM_ACCESS_WRITE)
		return -EINVAL;
	if (!args->length || args->offset + args->length < args->offset)
		return -EINVAL;
	args->populates = 0;
	args->retries = 0;

	obj = mdrm_lookup(file, args->handle);
	if (!obj)
		return -ENOENT;
	if (args->offset + args->length > obj->base.size) {
		ret = -EINVAL;
		goto out_put;
	}
	if (write && mdrm_read_only(obj)) {
		ret = -EACCES;
		goto out_put;
	}

	buf = kvmalloc(min_t(u64, chunk_max, args->length), GFP_KERNEL);
	if (!buf) {
		ret = -ENOMEM;
		goto out_put;
	}

	mutex_lock(&obj->migrate_lock);
	while (done < args->length) {
		u64 off = args->offset + done;
		/* chunks end on chunk_max boundaries of the object */
		size_t len = min_t(u64, chunk_max - (off % chunk_max),
				   args->length - done);

		if (write && copy_from_user(buf, user + done, len)) {
			ret = -EFAULT;
			break;
		}
		if (obj->svm)
			ret = mdrm_svm_access(obj, off, len, buf, write,
					      &args->populates, &args->retries);
		else
			ret = mdrm_access_chunk(obj, off, len, buf, write, args);
		if (ret)
			break;
		if (!write && copy_to_user(user + done, buf, len)) {
			ret = -EFAULT;
			break;
		}
		done += len;
	}
	mutex_unlock(&obj->migrate_lock);
	kvfree(buf);

	mdrm_count(obj, MDRM_CNT(device_accesses), 1);
	mdrm_count(obj, MDRM_CNT(device_bytes), done);
out_put:
	drm_gem_object_put(&obj->base);
	return ret;
}

static bool mdrm_probe_invalidate(struct mmu_interval_notifier *mni,
				  const struct mmu_notifier_range *range,
				  unsigned long cur_seq)
{
	mmu_interval_set_seq(mni, cur_seq);
	return true;
}

/* A notifier only for reading the CPU page tables of an SVM object. */
static const struct mmu_interval_notifier_ops mdrm_probe_ops = {
	.invalidate = mdrm_probe_invalidate,
};

/*
 * CPU view of pages [first, first + n): hmm_range_fault() without faulting.
 * SVM objects have no notifier of their own (drm_gpusvm's notifiers come and
 * go with its ranges), so a short-lived one covers the pages read.
 */
static void mdrm_cpu_view(struct mdrm_obj *obj, unsigned long first,
			  unsigned long n, unsigned long *pfns)
{
	unsigned long timeout = jiffies + msecs_to_jiffies(HMM_RANGE_DEFAULT_TIMEOUT);
	struct mmu_interval_notifier probe;
	struct hmm_range range = {
		.notifier = &obj->notifier,
		.start = obj->start + (first << PAGE_SHIFT),
		.end = obj->start + ((first + n) << PAGE_SHIFT),
		.hmm_pfns = pfns,
		.default_flags = 0,
		.pfn_flags_mask = 0,
		/* our owner's device pages show as such; others' as absent */
		.dev_private_owner = obj->mdev->owner,
	};
	int ret;

	if (!mmget_not_zero(obj->mm)) {
		memset(pfns, 0, n * sizeof(*pfns));
		return;
	}
	if (!obj->notifier_inserted) {
		ret = mmu_interval_notifier_insert(&probe, obj->mm, range.start,
						   range.end - range.start,
						   &mdrm_probe_ops);
		if (ret)
			goto out;
		range.notifier = &probe;
	}
	do {
		range.notifier_seq = mmu_interval_read_begin(range.notifier);
		mmap_read_lock(obj->mm);
		ret = hmm_range_fault(&range);
		mmap_read_unlock(obj->mm);
	} while (ret == -EBUSY && !time_after(jiffies, timeout) &&
		 !fatal_signal_pending(current));
	if (range.notifier == &probe)
		mmu_interval_notifier_remove(&probe);
out:
	mmput(obj->mm);
	if (ret) {
		unsigned long i;

		for (i = 0; i < n; i++)
			pfns[i] = HMM_PFN_ERROR;
	}
}

static u32 mdrm_cpu_flags(unsigned long hpfn)
{
	u32 f = 0;

	if (hpfn & HMM_PFN_ERROR)
		return MIRRORDRM_PAGE_ERROR;
	if (!(hpfn & HMM_PFN_VALID))
		return 0;
	f |= MIRRORDRM_PAGE_VALID;
	if (hpfn & HMM_PFN_WRITE)
		f |= MIRRORDRM_PAGE_WRITE;
	f |= mdrm_devmem_page_flags(hmm_pfn_to_page(hpfn));
	if (is_zero_pfn(hpfn & ~HMM_PFN_FLAGS))
		f |= MIRRORDRM_PAGE_ZERO;
	f |= (hmm_pfn_to_map_order(hpfn) << MIRRORDRM_PAGE_ORDER_SHIFT) &
		MIRRORDRM_PAGE_ORDER_MASK;
	return f;
}

static int mdrm_ioctl_snapshot(struct drm_device *dev, void *data,
			       struct drm_file *file)
{
	struct drm_mirrordrm_snapshot *args = data;
	struct drm_mirrordrm_page __user *user = u64_to_user_ptr(args->pages);
	bool show_pfn = capable(CAP_SYS_ADMIN);
	struct drm_mirrordrm_page *out = NULL;
	unsigned long *pfns = NULL;
	struct mdrm_obj *obj;
	u64 done;
	int ret = 0;

	if (args->flags || !args->count ||
	    args->first_page + args->count < args->first_page)
		return -EINVAL;
	obj = mdrm_lookup(file, args->handle);
	if (!obj)
		return -ENOENT;
	if (args->first_page + args->count > obj->npages) {
		ret = -EINVAL;
		goto out_put;
	}
	pfns = kvcalloc(MDRM_SNAP_CHUNK, sizeof(*pfns), GFP_KERNEL);
	out = kvcalloc(MDRM_SNAP_CHUNK, sizeof(*out), GFP_KERNEL);
	if (!pfns || !out) {
		ret = -ENOMEM;
		goto out_free;
	}

	for (done = 0; done < args->count; done += MDRM_SNAP_CHUNK) {
		unsigned long first = args->first_page + done;
		unsigned long n = min_t(u64, MDRM_SNAP_CHUNK, args->count - done);
		unsigned long i;

		mdrm_cpu_view(obj, first, n, pfns);

		/* the device view is read under the driver lock */
		if (obj->svm)
			mdrm_svm_view_lock(obj);
		else
			mutex_lock(&obj->lock);
		for (i = 0; i < n; i++) {
			unsigned long idx = first + i;
			u8 st = obj->state[idx];
			unsigned long cpu_pfn = pfns[i] & ~HMM_PFN_FLAGS;
			unsigned long dev_pfn = 0;
			u32 df = 0;

			if (obj->pages && obj->pages[idx])
				dev_pfn = page_to_pfn(obj->pages[idx]);
			else if (obj->pfns && (st & MDRM_ST_VALID))
				dev_pfn = obj->pfns[idx] & ~HMM_PFN_FLAGS;
			else if (obj->svm && (st & MDRM_ST_VALID))
				dev_pfn = mdrm_svm_dev_pfn(obj, idx);
			if (st & MDRM_ST_VALID) {
				df |= MIRRORDRM_PAGE_VALID;
				if (is_zero_pfn(dev_pfn))
					df |= MIRRORDRM_PAGE_ZERO;
			}
			if (st & MDRM_ST_WRITE)
				df |= MIRRORDRM_PAGE_WRITE;
			if (st & MDRM_ST_STALE)
				df |= MIRRORDRM_PAGE_STALE;
			if (st & MDRM_ST_EXCL)
				df |= MIRRORDRM_PAGE_EXCLUSIVE;
			if (dev_pfn && (st & MDRM_ST_VALID))
				df |= mdrm_devmem_page_flags(pfn_to_page(dev_pfn));
			out[i].cpu_flags = mdrm_cpu_flags(pfns[i]);
			if ((st & MDRM_ST_VALID) &&
			    (out[i].cpu_flags & MIRRORDRM_PAGE_VALID) &&
			    dev_pfn == cpu_pfn)
				df |= MIRRORDRM_PAGE_SAME;
			out[i].dev_flags = df;
			out[i].dev_pfn = show_pfn ? dev_pfn : 0;
			out[i].cpu_pfn = (show_pfn &&
					  (out[i].cpu_flags & MIRRORDRM_PAGE_VALID)) ?
					 cpu_pfn : 0;
		}
		if (obj->svm)
			mdrm_svm_view_unlock(obj);
		else
			mutex_unlock(&obj->lock);

		if (copy_to_user(user + done, out, n * sizeof(*out))) {
			ret = -EFAULT;
			break;
		}
	}
out_free:
	kvfree(out);
	kvfree(pfns);
out_put:
	drm_gem_object_put(&obj->base);
	return ret;
}

static int mdrm_ioctl_inval_read(struct drm_device *dev, void *data,
				 struct drm_file *file)
{
	struct drm_mirrordrm_inval_read *args = data;
	struct mdrm_fpriv *fpriv = file->driver_priv;
	struct drm_mirrordrm_inval_record *recs;
	u32 n, i;

	if (args->flags)
		return -EINVAL;
	n = min_t(u32, args->count, MDRM_READ_MAX);
	recs = n ? kvcalloc(n, sizeof(*recs), GFP_KERNEL) : NULL;
	if (n && !recs)
		return -ENOMEM;

	spin_lock(&fpriv->lock);
	n = min(n, fpriv->count);
	for (i = 0; i < n; i++)
		recs[i] = fpriv->ring[(fpriv->head + i) % MDRM_LOG_SIZE];
	fpriv->head = (fpriv->head + n) % MDRM_LOG_SIZE;
	fpriv->count -= n;
	args->lost = fpriv->lost;
	fpriv->lost = 0;
	args->lost_total = fpriv->lost_total;
	args->pending = fpriv->count;
	spin_unlock(&fpriv->lock);

	args->count = n;
	/* records already taken off the ring are lost if this copy fails */
	if (n && copy_to_user(u64_to_user_ptr(args->records), recs,
			      n * sizeof(*recs))) {
		spin_lock(&fpriv->lock);
		fpriv->lost += n;
		fpriv->lost_total += n;
		spin_unlock(&fpriv->lock);
		kvfree(recs);
		return -EFAULT;
	}
	kvfree(recs);
	return 0;
}

static int mdrm_ioctl_stats(struct drm_device *dev, void *data,
			    struct drm_file *file)
{
	struct drm_mirrordrm_stats *args = data;
	struct mdrm_fpriv *fpriv = file->driver_priv;
	struct drm_mirrordrm_counters out = {};
	struct mdrm_counters *src;
	struct mdrm_obj *obj = NULL;
	__u64 *dst = (__u64 *)&out;
	unsigned int i;
	int ret = 0;

	if (args->flags || args->pad)
		return -EINVAL;
	if (args->handle) {
		obj = mdrm_lookup(file, args->handle);
		if (!obj)
			return -ENOENT;
		src = &obj->cnt;
	} else {
		src = &fpriv->cnt;
	}
	for (i = 0; i < MDRM_NR_COUNTERS; i++)
		dst[i] = atomic64_read(&src->c[i]);
	if (!obj) {
		spin_lock(&fpriv->lock);
		out.log_lost = fpriv->lost_total;
		spin_unlock(&fpriv->lock);
	}
	if (copy_to_user(u64_to_user_ptr(args->counters), &out,
			 min_t(u32, args->size, sizeof(out))))
		ret = -EFAULT;
	args->size = sizeof(out);
	if (obj)
		drm_gem_object_put(&obj->base);
	return ret;
}

static int mdrm_ioctl_set_behaviour(struct drm_device *dev, void *data,
				    struct drm_file *file)
{
	struct drm_mirrordrm_behaviour *args = data;
	struct mdrm_fpriv *fpriv = file->driver_priv;
	struct mdrm_obj *obj;

	if (args->flags & ~MIRRORDRM_BEHAVIOUR_FLAGS)
		return -EINVAL;
	if (args->fence_wait_ns > MIRRORDRM_FENCE_WAIT_MAX_NS)
		return -EINVAL;
	if (args->populate_delay_ns > MIRRORDRM_POPULATE_DELAY_MAX_NS)
		return -EINVAL;
	if (!args->handle) {
		WRITE_ONCE(fpriv->behaviour, args->flags);
		WRITE_ONCE(fpriv->fence_wait_ns, args->fence_wait_ns);
		WRITE_ONCE(fpriv->populate_delay_ns, args->populate_delay_ns);
		return 0;
	}
	obj = mdrm_lookup(file, args->handle);
	if (!obj)
		return -ENOENT;
	WRITE_ONCE(obj->behaviour, args->flags);
	WRITE_ONCE(obj->fence_wait_ns, args->fence_wait_ns);
	WRITE_ONCE(obj->populate_delay_ns, args->populate_delay_ns);
	drm_gem_object_put(&obj->base);
	return 0;
}

static int mdrm_ioctl_device_info(struct drm_device *dev, void *data,
				  struct drm_file *file)
{
	struct drm_mirrordrm_device_info *info = data;
	struct mdrm_device *mdev = to_mdrm_device(dev);

	memset(info, 0, sizeof(*info));
	info->index = mdev->index;
	info->owner = mdev->owner->id;
	mdrm_devmem_info(mdev, info);
	return 0;
}

static const struct drm_ioctl_desc mdrm_ioctls[] = {
	DRM_IOCTL_DEF_DRV(MIRRORDRM_USERPTR, mdrm_ioctl_userptr, DRM_RENDER_ALLOW),
	DRM_IOCTL_DEF_DRV(MIRRORDRM_ACCESS, mdrm_ioctl_access, DRM_RENDER_ALLOW),
	DRM_IOCTL_DEF_DRV(MIRRORDRM_SNAPSHOT, mdrm_ioctl_snapshot, DRM_RENDER_ALLOW),
	DRM_IOCTL_DEF_DRV(MIRRORDRM_INVAL_READ, mdrm_ioctl_inval_read, DRM_RENDER_ALLOW),
	DRM_IOCTL_DEF_DRV(MIRRORDRM_STATS, mdrm_ioctl_stats, DRM_RENDER_ALLOW),
	DRM_IOCTL_DEF_DRV(MIRRORDRM_SET_BEHAVIOUR, mdrm_ioctl_set_behaviour, DRM_RENDER_ALLOW),
	DRM_IOCTL_DEF_DRV(MIRRORDRM_MIGRATE, mdrm_ioctl_migrate, DRM_RENDER_ALLOW),
	DRM_IOCTL_DEF_DRV(MIRRORDRM_EXCLUSIVE, mdrm_ioctl_exclusive, DRM_RENDER_ALLOW),
	DRM_IOCTL_DEF_DRV(MIRRORDRM_DEVICE_INFO, mdrm_ioctl_device_info, DRM_RENDER_ALLOW),
};

static int mdrm_open(struct drm_device *dev, struct drm_file *file)
{
	struct mdrm_fpriv *fpriv;

	fpriv = kzalloc(sizeof(*fpriv), GFP_KERNEL);
	if (!fpriv)
		return -ENOMEM;
	fpriv->ring = kvcalloc(MDRM_LOG_SIZE, sizeof(*fpriv->ring), GFP_KERNEL);
	if (!fpriv->ring) {
		kfree(fpriv);
		return -ENOMEM;
	}
	kref_init(&fpriv->ref);
	spin_lock_init(&fpriv->lock);
	init_waitqueue_head(&fpriv->wq);
	file->driver_priv = fpriv;
	return 0;
}

static void mdrm_postclose(struct drm_device *dev, struct drm_file *file)
{
	struct mdrm_fpriv *fpriv = file->driver_priv;

	/* objects still referenced elsewhere keep the state alive */
	kref_put(&fpriv->ref, mdrm_fpriv_free);
}

/* drm_poll() for DRM events, plus POLLIN while invalidation records wait. */
static __poll_t mdrm_poll(struct file *filp, struct poll_table_struct *wait)
{
	struct drm_file *file = filp->private_data;
	struct mdrm_fpriv *fpriv = file->driver_priv;
	__poll_t mask = drm_poll(filp, wait);

	poll_wait(filp, &fpriv->wq, wait);
	if (READ_ONCE(fpriv->count))
		mask |= EPOLLIN | EPOLLRDNORM;
	return mask;
}

static const struct file_operations mdrm_fops = {
	.owner = THIS_MODULE,
	.open = drm_open,
	.release = drm_release,
	.unlocked_ioctl = drm_ioctl,
	.compat_ioctl = drm_compat_ioctl,
	.poll = mdrm_poll,
	.read = drm_read,
	.llseek = noop_llseek,
	.mmap = drm_gem_mmap,
#ifdef FOP_UNSIGNED_OFFSET
	/* 6.12's drm_open_helper() refuses (with a WARN) fops without it */
	.fop_flags = FOP_UNSIGNED_OFFSET,
#endif
};

static const struct drm_driver mdrm_driver = {
	.driver_features = DRIVER_GEM | DRIVER_RENDER,
	.open = mdrm_open,
	.postclose = mdrm_postclose,
	.ioctls = mdrm_ioctls,
	.num_ioctls = ARRAY_SIZE(mdrm_ioctls),
	.fops = &mdrm_fops,
	.name = DRIVER_NAME,
	.desc = DRIVER_DESC,
#ifdef DRIVER_DATE
	.date = DRIVER_DATE,
#endif
	.major = DRIVER_MAJOR,
	.minor = DRIVER_MINOR,
};

/*
 * Devices are platform devices "mirrordrm.0" .. "mirrordrm.N-1", each with
 * its own card and render node.  owners= gives each device its pgmap owner
 * id: devices with the same id share one owner (one device memory, as far
 * as the mm can tell), devices with different ids do not.
 */
static unsigned int devices = 1;
module_param(devices, uint, 0444);
MODULE_PARM_DESC(devices, "number of mirrordrm devices (1-4, default 1)");

static unsigned int owners[MDRM_MAX_DEVICES];
static unsigned int nr_owners;
module_param_array(owners, uint, &nr_owners, 0444);
MODULE_PARM_DESC(owners,
		 "pgmap owner id of each device, 1-4 (default: device N has owner N+1)");

static unsigned int devmem_mb = 256;
module_param(devmem_mb, uint, 0444);
MODULE_PARM_DESC(devmem_mb,
		 "device-private memory per device in MiB, 0 for none (default 256; needs DEVICE_PRIVATE)");

static struct mdrm_owner mdrm_owners[MDRM_MAX_DEVICES];
static struct platform_device *mdrm_pdevs[MDRM_MAX_DEVICES];
static struct mdrm_device *mdrm_devs[MDRM_MAX_DEVICES];

/* The log's name for a pgmap owner: our owner id, 0 for none, or FOREIGN. */
u32 mdrm_owner_id(const void *owner)
{
	unsigned int i;

	if (!owner)
		return 0;
	for (i = 0; i < MDRM_MAX_DEVICES; i++)
		if (owner == &mdrm_owners[i])
			return mdrm_owners[i].id;
	return MIRRORDRM_OWNER_FOREIGN;
}

static void mdrm_device_remove(unsigned int i)
{
	if (mdrm_devs[i]) {
		drm_dev_unregister(&mdrm_devs[i]->drm);
		/* no file is open: move what processes still hold back to RAM */
		mdrm_devmem_fini(mdrm_devs[i]);
	}
	devres_release_group(&mdrm_pdevs[i]->dev, NULL);
	platform_device_unregister(mdrm_pdevs[i]);
	mdrm_devs[i] = NULL;
	mdrm_pdevs[i] = NULL;
}

static int mdrm_device_add(unsigned int i)
{
	struct platform_device *pdev;
	struct mdrm_device *mdev;
	int ret;

	pdev = platform_device_register_simple(DRIVER_NAME, i, NULL, 0);
	if (IS_ERR(pdev))
		return PTR_ERR(pdev);
	mdrm_pdevs[i] = pdev;

	if (!devres_open_group(&pdev->dev, NULL, GFP_KERNEL)) {
		platform_device_unregister(pdev);
		mdrm_pdevs[i] = NULL;
		return -ENOMEM;
	}
	mdev = devm_drm_dev_alloc(&pdev->dev, &mdrm_driver, struct mdrm_device,
				  drm);
	if (IS_ERR(mdev)) {
		ret = PTR_ERR(mdev);
		goto err;
	}
	mdev->index = i;
	mdev->owner = &mdrm_owners[(nr_owners ? owners[i] : i + 1) - 1];
	if (devmem_mb) {
		ret = mdrm_devmem_init(mdev, (unsigned long)devmem_mb << 20);
		if (ret)
			goto err;
	}
	/* MODE_SVM DMA-maps pages for this device: no bounce buffers */
	mdrm_svm_device_init(&pdev->dev);

	ret = drm_dev_register(&mdev->drm, 0);
	if (ret) {
		mdrm_devmem_fini(mdev);
		goto err;
	}
	mdrm_devs[i] = mdev;
	return 0;

err:
	mdrm_device_remove(i);
	return ret;
}

static int __init mdrm_init(void)
{
	unsigned int i;
	int ret;

	BUILD_BUG_ON(DRM_IOCTL_MIRRORDRM_USERPTR !=
		     DRM_IOWR(DRM_COMMAND_BASE + DRM_MIRRORDRM_USERPTR,
			      struct drm_mirrordrm_userptr));
	BUILD_BUG_ON(sizeof(struct drm_mirrordrm_inval_record) != 88);
	BUILD_BUG_ON(sizeof(struct drm_mirrordrm_access) != 40);
	BUILD_BUG_ON(MDRM_LOG_SIZE > U32_MAX);

	if (devmem_mb > 4096) {
		pr_err(DRIVER_NAME ": devmem_mb=%u: at most 4096\n", devmem_mb);
		return -EINVAL;
	}
	if (!devices || devices > MDRM_MAX_DEVICES) {
		pr_err(DRIVER_NAME ": devices=%u: must be 1 to %d\n", devices,
		       MDRM_MAX_DEVICES);
		return -EINVAL;
	}
	if (nr_owners && nr_owners != devices) {
		pr_err(DRIVER_NAME ": owners= names %u devices, devices=%u\n",
		       nr_owners, devices);
		return -EINVAL;
	}
	for (i = 0; i < MDRM_MAX_DEVICES; i++) {
		mdrm_owners[i].id = i + 1;
		if (i < nr_owners && (!owners[i] || owners[i] > MDRM_MAX_DEVICES)) {
			pr_err(DRIVER_NAME ": owners[%u]=%u: must be 1 to %d\n",
			       i, owners[i], MDRM_MAX_DEVICES);
			return -EINVAL;
		}
	}

	for (i = 0; i < devices; i++) {
		ret = mdrm_device_add(i);
		if (ret) {
			while (i--)
				mdrm_device_remove(i);
			return ret;
		}
	}
	return 0;
}

static void __exit mdrm_exit(void)
{
	unsigned int i = devices;

	while (i--)
		mdrm_device_remove(i);
}

module_init(mdrm_init);
module_exit(mdrm_exit);

MODULE_DESCRIPTION(DRIVER_DESC);
MODULE_LICENSE("GPL");
