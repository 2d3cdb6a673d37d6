// SPDX-License-Identifier: GPL-2.0-only
/*
 * mirrordrm device memory: device-private pages a userptr object's range can
 * migrate into and out of, as a GPU moves a process's pages into its VRAM.
 *
 * Each device with devmem_mb= > 0 owns one MEMORY_DEVICE_PRIVATE pagemap:
 * struct pages for a free physical range (request_free_mem_region()), with
 * pgmap->owner the device's owner (mirrordrm.h).  The CPU cannot map these
 * pages; its page tables hold device-private swap entries instead, and a CPU
 * access faults into migrate_to_ram().  The "device memory" itself is system
 * memory: every allocated device page has an ordinary backing page, kept in
 * devmem->backing[] by page index.  Backing pages are order 0 even for a
 * 2 MiB device folio, so splitting a device folio needs no work on them.
 *
 * Allocation is a bitmap (2 MiB folios take an aligned run of 512 bits);
 * folio_free() clears the bits and frees the backing pages.
 *
 * Locking
 * -------
 * devmem->lock (a spinlock) protects the bitmap, nfree and backing[]: it is
 * taken by allocation, by folio_free() (which runs wherever the last
 * reference to a device folio is dropped) and by the eviction walk; nothing
 * sleeps under it.
 *
 * MIGRATE and EXCLUSIVE hold obj->migrate_lock (a mutex) for the whole call,
 * and device access (ACCESS) holds it too: a device copy never runs while the
 * object's pages are between migrate_vma_setup() and the point where the
 * object's view shows where they went.  Order: obj->migrate_lock, then the
 * mmap lock (read), then (from the notifier) obj->lock.  obj->migrator names
 * the task inside such a call; the notifier ignores MIGRATE and EXCLUSIVE
 * events whose owner is ours when they come from that task (the object maps
 * the result itself, as real drivers do), and handles every other one,
 * including CPU fault-backs, which drop the device's mapping.
 *
 * migrate_to_ram() runs with the mmap lock held by the faulting task and the
 * device page locked by the core; it takes no mirrordrm lock but devmem->lock.
 */

#include <linux/module.h>
#include <linux/mm.h>
#include <linux/memremap.h>
#include <linux/migrate.h>
#include <linux/rmap.h>
#include <linux/hmm.h>
#include <linux/highmem.h>
#include <linux/ioport.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>
#include <linux/vmalloc.h>
#include <linux/capability.h>
#include <drm/drm_file.h>

#include "mirrordrm.h"

#ifdef MDRM_HAVE_DEVMEM

#define MDRM_THP_NR	HPAGE_PMD_NR
#define MDRM_MIGRATE_STEP	HPAGE_PMD_NR	/* pages per migrate_vma call */

enum {
	MDRM_DM_TO_DEVICE,
	MDRM_DM_TO_RAM,
	MDRM_DM_CPU_FAULTS,
	MDRM_DM_FAULT_PAGES,
	MDRM_DM_FOLIO_FREES,
	MDRM_DM_FOLIO_SPLITS,
	MDRM_DM_THP_ALLOCS,
	MDRM_DM_ALLOC_FAILURES,
	MDRM_DM_EVICTED,
	MDRM_DM_NR,
};

static const struct dev_pagemap_ops mdrm_devmem_ops;

struct mdrm_devmem {
	struct dev_pagemap pagemap;
	struct mdrm_device *mdev;
	struct resource *res;
	unsigned long pfn_first;
	unsigned long npages;
	spinlock_t lock;		/* protects used, nfree, backing */
	unsigned long *used;		/* bitmap, one bit per device page */
	unsigned long nfree;
	struct page **backing;		/* system page holding each device page */
	atomic64_t cnt[MDRM_DM_NR];
};

static struct mdrm_devmem *mdrm_page_devmem(struct page *page)
{
	return container_of(page_pgmap(page), struct mdrm_devmem, pagemap);
}

static unsigned long mdrm_page_index(struct mdrm_devmem *dm, struct page *page)
{
	return page_to_pfn(page) - dm->pfn_first;
}

static bool mdrm_is_our_page(struct page *page)
{
	return page && is_device_private_page(page) &&
	       page_pgmap(page)->ops == &mdrm_devmem_ops;
}

struct page *mdrm_devmem_backing(struct page *page)
{
	struct mdrm_devmem *dm;

	if (!mdrm_is_our_page(page))
		return page;
	dm = mdrm_page_devmem(page);
	/* allocated pages keep their backing until folio_free() */
	return READ_ONCE(dm->backing[mdrm_page_index(dm, page)]);
}

u32 mdrm_devmem_page_flags(struct page *page)
{
	if (!page || !is_device_private_page(page))
		return 0;
	return MIRRORDRM_PAGE_DEVICE_PRIVATE |
	       ((mdrm_owner_id(page_pgmap(page)->owner) <<
		 MIRRORDRM_PAGE_OWNER_SHIFT) & MIRRORDRM_PAGE_OWNER_MASK);
}

/*
 * Hand out a device folio of the given order (0 or the PMD order), locked and
 * with one reference, as migrate_vma_pages() wants its destination pages.
 * Backing pages are allocated first, outside the lock.
 */
static struct page *mdrm_devmem_alloc(struct mdrm_devmem *dm, unsigned int order)
{
	unsigned long nr = 1UL << order, idx, i;
	struct page **backing;
	struct page *dpage;

	backing = kvcalloc(nr, sizeof(*backing), GFP_KERNEL);
	if (!backing)
		goto fail;
	for (i = 0; i < nr; i++) {
		backing[i] = alloc_page(GFP_HIGHUSER);
		if (!backing[i])
			goto fail_free;
	}

	spin_lock(&dm->lock);
	idx = bitmap_find_next_zero_area(dm->used, dm->npages, 0, nr, nr - 1);
	if (idx >= dm->npages) {
		spin_unlock(&dm->lock);
		goto fail_free;
	}
	bitmap_set(dm->used, idx, nr);
	dm->nfree -= nr;
	for (i = 0; i < nr; i++)
		dm->backing[idx + i] = backing[i];
	spin_unlock(&dm->lock);
	kvfree(backing);

	/*
	 * Not page_folio(dpage): a page that was a tail of a freed 2 MiB
	 * folio still names its old head until zone_device_page_init()
	 * clears that, and the init must apply to this page.
	 */
	dpage = pfn_to_page(dm->pfn_first + idx);
	zone_device_page_init(dpage, &dm->pagemap, order);
	if (order)
		folio_set_large_rmappable(page_folio(dpage));
	if (order)
		atomic64_inc(&dm->cnt[MDRM_DM_THP_ALLOCS]);
	return dpage;

fail_free:
	for (i = 0; i < nr && backing[i]; i++)
		__free_page(backing[i]);
	kvfree(backing);
fail:
	atomic64_inc(&dm->cnt[MDRM_DM_ALLOC_FAILURES]);
	return NULL;
}

static void mdrm_devmem_folio_free(struct folio *folio)
{
	struct page *head = folio_page(folio, 0);
	struct mdrm_devmem *dm = mdrm_page_devmem(head);
	unsigned long idx = mdrm_page_index(dm, head);
	unsigned long nr = folio_nr_pages(folio), i;
	struct page *backing;

	spin_lock(&dm->lock);
	for (i = 0; i < nr; i++) {
		backing = dm->backing[idx + i];
		dm->backing[idx + i] = NULL;
		if (backing)
			__free_page(backing);
	}
	bitmap_clear(dm->used, idx, nr);
	dm->nfree += nr;
	spin_unlock(&dm->lock);
	atomic64_inc(&dm->cnt[MDRM_DM_FOLIO_FREES]);
}

/*
 * A 2 MiB device folio is being split (a partial munmap or mprotect of it,
 * or a fault-back of one of its pages).  Backing pages are per page, so the
 * new folio only needs what the core expects of a device-private folio.
 * Called once per new folio, then once with tail == NULL.
 */
static void mdrm_devmem_folio_split(struct folio *head, struct folio *tail)
{
	if (!tail) {
		atomic64_inc(&mdrm_page_devmem(folio_page(head, 0))->cnt[MDRM_DM_FOLIO_SPLITS]);
		return;
	}
	tail->pgmap = head->pgmap;
	tail->page.mapping = head->page.mapping;
}

/* Copy the device folios of a migration's source into new system folios. */
static int mdrm_copy_to_ram(struct migrate_vma *args, unsigned long *moved)
{
	unsigned long i, j;

	for (i = 0; i < args->npages; ) {
		struct page *spage = migrate_pfn_to_page(args->src[i]);
		struct folio *dfolio = NULL;
		unsigned int order = 0;
		unsigned long nr;

		if (!spage || !(args->src[i] & MIGRATE_PFN_MIGRATE)) {
			i++;
			continue;
		}
		if (args->src[i] & MIGRATE_PFN_COMPOUND)
			order = folio_order(page_folio(spage));
		nr = 1UL << order;
		if (order) {
			dfolio = vma_alloc_folio(GFP_HIGHUSER_MOVABLE, order,
						 args->vma,
						 args->start + (i << PAGE_SHIFT));
			if (!dfolio) {
				/*
				 * No 2 MiB system folio: leave this one on the
				 * device; a smaller request (a fault) splits it.
				 */
				i += nr;
				continue;
			}
			args->dst[i] = migrate_pfn(folio_pfn(dfolio)) |
				       MIGRATE_PFN_COMPOUND;
		} else {
			struct page *dpage = alloc_page_vma(GFP_HIGHUSER_MOVABLE,
							    args->vma,
							    args->start + (i << PAGE_SHIFT));

			if (!dpage)
				return -ENOMEM;
			dfolio = page_folio(dpage);
			args->dst[i] = migrate_pfn(page_to_pfn(dpage));
		}
		folio_lock(dfolio);
		if (args->src[i] & MIGRATE_PFN_WRITE)
			args->dst[i] |= MIGRATE_PFN_WRITE;
		for (j = 0; j < nr; j++)
			copy_highpage(folio_page(dfolio, j),
				      mdrm_devmem_backing(spage + j));
		*moved += nr;
		i += nr;
	}
	return 0;
}

static vm_fault_t mdrm_devmem_migrate_to_ram(struct vm_fault *vmf)
{
	struct folio *folio = page_folio(vmf->page);
	struct mdrm_devmem *dm = mdrm_page_devmem(vmf->page);
	unsigned int order = folio_order(folio);
	struct migrate_vma args = {
		.vma = vmf->vma,
		.pgmap_owner = dm->mdev->owner,
		.flags = MIGRATE_VMA_SELECT_DEVICE_PRIVATE,
		.fault_page = vmf->page,
	};
	unsigned long moved = 0;
	vm_fault_t ret = 0;

	/*
	 * A PMD-mapped device folio comes back whole; one mapped by PTEs
	 * (after a partial munmap, say) one page at a time.
	 */
	if (vmf->pte)
		order = 0;
	args.start = ALIGN_DOWN(vmf->address, PAGE_SIZE << order);
	args.end = args.start + (PAGE_SIZE << order);
	if (order)
		args.flags |= MIGRATE_VMA_SELECT_COMPOUND;
	args.src = kcalloc(1UL << order, sizeof(*args.src), GFP_KERNEL);
	args.dst = kcalloc(1UL << order, sizeof(*args.dst), GFP_KERNEL);
	if (!args.src || !args.dst) {
		ret = VM_FAULT_OOM;
		goto out;
	}

	atomic64_inc(&dm->cnt[MDRM_DM_CPU_FAULTS]);
	if (migrate_vma_setup(&args)) {
		ret = VM_FAULT_SIGBUS;
		goto out;
	}
	if (mdrm_copy_to_ram(&args, &moved)) {
		memset(args.dst, 0, args.npages * sizeof(*args.dst));
		ret = VM_FAULT_OOM;
	}
	migrate_vma_pages(&args);
	migrate_vma_finalize(&args);
	atomic64_add(moved, &dm->cnt[MDRM_DM_FAULT_PAGES]);
out:
	kfree(args.src);
	kfree(args.dst);
	return ret;
}

static const struct dev_pagemap_ops mdrm_devmem_ops = {
	.folio_free = mdrm_devmem_folio_free,
	.migrate_to_ram = mdrm_devmem_migrate_to_ram,
	.folio_split = mdrm_devmem_folio_split,
};

/*
 * Fill dst[] for a migration to the device: a device folio per source folio
 * (2 MiB where the source is a 2 MiB folio or an empty 2 MiB range and the
 * device has an aligned free run, else 4 KiB pages), with the bytes copied
 * into the backing pages.  Returns the pages given a destination; *full is
 * set when device memory ran out.
 */
static unsigned long mdrm_copy_to_device(struct mdrm_devmem *dm,
					 struct migrate_vma *args, bool *full)
{
	unsigned long i, j, given = 0;

	for (i = 0; i < args->npages; ) {
		unsigned long src = args->src[i];
		struct page *spage = migrate_pfn_to_page(src);
		unsigned long nr = 1;
		struct page *dpage = NULL;

		if (!(src & MIGRATE_PFN_MIGRATE)) {
			i++;
			continue;
		}
		if (src & MIGRATE_PFN_COMPOUND) {
			nr = MDRM_THP_NR;
			dpage = mdrm_devmem_alloc(dm, HPAGE_PMD_ORDER);
			if (dpage) {
				args->dst[i] = migrate_pfn(page_to_pfn(dpage)) |
					       MIGRATE_PFN_COMPOUND;
				if (src & MIGRATE_PFN_WRITE)
					args->dst[i] |= MIGRATE_PFN_WRITE;
				for (j = 0; j < nr; j++) {
					struct page *b = dm->backing[mdrm_page_index(dm, dpage) + j];

					if (spage)
						copy_highpage(b, spage + j);
					else
						clear_highpage(b);
				}
				given += nr;
				i += nr;
				continue;
			}
			/*
			 * No 2 MiB run free: 4 KiB device pages for each page
			 * of the folio; migrate_vma_pages() splits the source.
			 */
		}
		for (j = 0; j < nr; j++) {
			struct page *sp = spage ? spage + j : NULL;

			dpage = mdrm_devmem_alloc(dm, 0);
			if (!dpage) {
				*full = true;
				/* pages without a dst stay where they are */
				for (; j < nr; j++)
					args->dst[i + j] = 0;
				return given;
			}
			args->dst[i + j] = migrate_pfn(page_to_pfn(dpage));
			if (src & MIGRATE_PFN_WRITE)
				args->dst[i + j] |= MIGRATE_PFN_WRITE;
			if (sp)
				copy_highpage(mdrm_devmem_backing(dpage), sp);
			else
				clear_highpage(mdrm_devmem_backing(dpage));
			given++;
		}
		i += nr;
	}
	return given;
}

/*
 * The object's view of the pages that moved to the device: its own pages
 * now, valid where no other invalidation came in since seq.  HMM objects
 * only; GUP objects keep their pins (pinned pages do not migrate).
 */
static void mdrm_map_migrated(struct mdrm_obj *obj, struct migrate_vma *args,
			      unsigned long seq)
{
	unsigned long first = (args->start - obj->start) >> PAGE_SHIFT;
	unsigned long i;
	s64 valid = 0;

	if (!obj->pfns)
		return;
	mutex_lock(&obj->lock);
	if (mmu_interval_read_retry(&obj->notifier, seq)) {
		/* something else changed the range: drop, refault later */
		for (i = 0; i < args->npages; i++) {
			if (obj->state[first + i] & MDRM_ST_VALID)
				valid--;
			obj->state[first + i] = 0;
			obj->pfns[first + i] = 0;
		}
		obj->invalidated = true;
		goto out;
	}
	for (i = 0; i < args->npages; i++) {
		unsigned long d = args->dst[i];
		unsigned long idx = first + i;
		struct page *dpage;

		if (!(args->src[i] & MIGRATE_PFN_MIGRATE) || !(d & MIGRATE_PFN_VALID))
			continue;
		dpage = migrate_pfn_to_page(d);
		if (d & MIGRATE_PFN_COMPOUND) {
			unsigned long j;

			for (j = 0; j < MDRM_THP_NR && i + j < args->npages; j++) {
				if (!(obj->state[idx + j] & MDRM_ST_VALID))
					valid++;
				obj->pfns[idx + j] = (page_to_pfn(dpage) + j) |
					HMM_PFN_VALID |
					((d & MIGRATE_PFN_WRITE) ? HMM_PFN_WRITE : 0);
				obj->state[idx + j] = MDRM_ST_VALID |
					((d & MIGRATE_PFN_WRITE) ? MDRM_ST_WRITE : 0);
			}
			i += MDRM_THP_NR - 1;
			continue;
		}
		if (!(obj->state[idx] & MDRM_ST_VALID))
			valid++;
		obj->pfns[idx] = page_to_pfn(dpage) | HMM_PFN_VALID |
				 ((d & MIGRATE_PFN_WRITE) ? HMM_PFN_WRITE : 0);
		obj->state[idx] = MDRM_ST_VALID |
				  ((d & MIGRATE_PFN_WRITE) ? MDRM_ST_WRITE : 0);
	}
out:
	mutex_unlock(&obj->lock);
	mdrm_count(obj, MDRM_CNT(pages_valid), valid);
}

/* Pages of a migration that moved, and of those in 2 MiB folios. */
static void mdrm_migrated(struct migrate_vma *args, u64 *moved, u64 *compound)
{
	unsigned long i;

	for (i = 0; i < args->npages; i++) {
		if (!(args->src[i] & MIGRATE_PFN_MIGRATE) ||
		    !(args->dst[i] & MIGRATE_PFN_VALID))
			continue;
		if (args->dst[i] & MIGRATE_PFN_COMPOUND) {
			*moved += MDRM_THP_NR;
			*compound += MDRM_THP_NR;
			i += MDRM_THP_NR - 1;
		} else {
			(*moved)++;
		}
	}
}

/*
 * Only private anonymous memory migrates.  Checked over the whole range
 * first, so that a refused call moves nothing.
 */
static int mdrm_check_migratable(struct mm_struct *mm, unsigned long start,
				 unsigned long end)
{
	struct vm_area_struct *vma;
	unsigned long addr;

	for (addr = start; addr < end; addr = vma->vm_end) {
		vma = vma_lookup(mm, addr);
		if (!vma)
			return -EFAULT;
		if (!vma_is_anonymous(vma) || is_vm_hugetlb_page(vma) ||
		    (vma->vm_flags & (VM_IO | VM_PFNMAP | VM_MIXEDMAP | VM_SHARED)))
			return -EOPNOTSUPP;
	}
	return 0;
}

static int mdrm_migrate_step(struct mdrm_obj *obj, struct mdrm_devmem *dm,
			     struct migrate_vma *args, bool to_device,
			     struct drm_mirrordrm_migrate *out)
{
	unsigned long seq = mmu_interval_read_begin(&obj->notifier);
	u64 moved = 0, compound = 0;
	unsigned long copied = 0;
	bool full = false;
	int ret;

	/*
	 * Into the device: the object maps the new pages itself (below), so
	 * its notifier may ignore this migration.  Back to RAM: the device
	 * must let go of its pages, the notifier drops them as usual.
	 */
	if (to_device)
		WRITE_ONCE(obj->migrator, current);
	ret = migrate_vma_setup(args);
	WRITE_ONCE(obj->migrator, NULL);
	if (ret)
		return ret;
	if (!args->cpages) {
		out->skipped += args->npages;
		return 0;
	}

	if (to_device) {
		mdrm_copy_to_device(dm, args, &full);
	} else {
		ret = mdrm_copy_to_ram(args, &copied);
		if (ret) {
			/* without a dst nothing moves; finalize restores */
			memset(args->dst, 0, args->npages * sizeof(*args->dst));
		}
	}
	migrate_vma_pages(args);
	mdrm_migrated(args, &moved, &compound);
	if (to_device)
		mdrm_map_migrated(obj, args, seq);
	migrate_vma_finalize(args);

	out->migrated += moved;
	out->compound += compound;
	out->skipped += args->npages - moved;
	if (to_device) {
		atomic64_add(moved, &dm->cnt[MDRM_DM_TO_DEVICE]);
		mdrm_count(obj, MDRM_CNT(pages_to_device), moved);
	} else {
		atomic64_add(moved, &dm->cnt[MDRM_DM_TO_RAM]);
		mdrm_count(obj, MDRM_CNT(pages_to_ram), moved);
	}
	if (full)
		return -ENOSPC;
	return ret;
}

int mdrm_ioctl_migrate(struct drm_device *dev, void *data, struct drm_file *file)
{
	struct drm_mirrordrm_migrate *args = data;
	struct mdrm_device *mdev = to_mdrm_device(dev);
	struct mdrm_devmem *dm = mdev->devmem;
	bool to_device = args->flags & MIRRORDRM_MIGRATE_TO_DEVICE;
	unsigned long *src = NULL, *dst = NULL;
	unsigned long start, end, addr;
	struct mdrm_obj *obj;
	int ret = 0;

	if (args->flags & ~MIRRORDRM_MIGRATE_FLAGS)
		return -EINVAL;
	if (!(args->flags & MIRRORDRM_MIGRATE_TO_DEVICE) ==
	    !(args->flags & MIRRORDRM_MIGRATE_TO_RAM))
		return -EINVAL;
	if (!args->length || !PAGE_ALIGNED(args->offset) ||
	    !PAGE_ALIGNED(args->length) ||
	    args->offset + args->length < args->offset)
		return -EINVAL;
	if (!dm)
		return -ENODEV;
	args->migrated = 0;
	args->compound = 0;
	args->skipped = 0;

	obj = mdrm_lookup(file, args->handle);
	if (!obj)
		return -ENOENT;
	if (args->offset + args->length > obj->base.size) {
		ret = -EINVAL;
		goto out_put;
	}
	if (!obj->notifier_inserted) {
		/*
		 * An svm object has no interval notifier of its own (drm_gpusvm
		 * inserts one per range), and each migration step reads that
		 * notifier's sequence: on an svm object that was a NULL mm
		 * dereference in mmu_interval_read_begin(), found by mirrorlab
		 * fuzz. svm objects migrate through drm_gpusvm, not MIGRATE.
		 */
		ret = -EINVAL;
		goto out_put;
	}
	if (to_device && mdrm_read_only(obj)) {
		/* the device could not write the pages it would then own */
		ret = -EACCES;
		goto out_put;
	}
	src = kvcalloc(MDRM_MIGRATE_STEP, sizeof(*src), GFP_KERNEL);
	dst = kvcalloc(MDRM_MIGRATE_STEP, sizeof(*dst), GFP_KERNEL);
	if (!src || !dst) {
		ret = -ENOMEM;
		goto out_put;
	}
	if (!mmget_not_zero(obj->mm)) {
		ret = -ESRCH;
		goto out_put;
	}

	start = obj->start + args->offset;
	end = start + args->length;
	mutex_lock(&obj->migrate_lock);
	mmap_read_lock(obj->mm);
	ret = mdrm_check_migratable(obj->mm, start, end);
	for (addr = start; !ret && addr < end; ) {
		struct migrate_vma m = {
			.vma = vma_lookup(obj->mm, addr),
			.src = src,
			.dst = dst,
			.start = addr,
			.pgmap_owner = mdev->owner,
		};
		unsigned long step = ALIGN(addr + 1, PMD_SIZE);

		/* steps end on PMD boundaries, so a 2 MiB folio is never cut */
		m.end = min3(step, end, m.vma->vm_end);
		if (to_device)
			m.flags = MIGRATE_VMA_SELECT_SYSTEM;
		else
			m.flags = MIGRATE_VMA_SELECT_DEVICE_PRIVATE;
		if (args->flags & MIRRORDRM_MIGRATE_COMPOUND)
			m.flags |= MIGRATE_VMA_SELECT_COMPOUND;
		ret = mdrm_migrate_step(obj, dm, &m, to_device, args);
		addr = m.end;
		if (fatal_signal_pending(current) && !ret)
			ret = -EINTR;
	}
	/*
	 * A step that failed (device memory full, a fatal signal) ends the
	 * walk: the pages after it did not move either, so they count as
	 * skipped and migrated + skipped is the whole range.  Where the range
	 * starts in a 2 MiB block, which step runs out of device memory
	 * depends on that placement; the totals must not.
	 */
	if (ret && addr > start && addr < end)
		args->skipped += (end - addr) >> PAGE_SHIFT;
	mmap_read_unlock(obj->mm);
	mutex_unlock(&obj->migrate_lock);
	mmput(obj->mm);
out_put:
	kvfree(src);
	kvfree(dst);
	drm_gem_object_put(&obj->base);
	return ret;
}

int mdrm_ioctl_exclusive(struct drm_device *dev, void *data, struct drm_file *file)
{
	struct drm_mirrordrm_exclusive *args = data;
	struct mdrm_device *mdev = to_mdrm_device(dev);
	unsigned long addr, start, end;
	struct mdrm_obj *obj;
	int ret = 0;

	if (args->flags || !args->length || !PAGE_ALIGNED(args->offset) ||
	    !PAGE_ALIGNED(args->length) ||
	    args->offset + args->length < args->offset)
		return -EINVAL;
	args->pages = 0;
	obj = mdrm_lookup(file, args->handle);
	if (!obj)
		return -ENOENT;
	if (args->offset + args->length > obj->base.size || !obj->pfns) {
		/* device atomics need a mirror (HMM) object */
		ret = -EINVAL;
		goto out_put;
	}
	if (!mmget_not_zero(obj->mm)) {
		ret = -ESRCH;
		goto out_put;
	}
	start = obj->start + args->offset;
	end = start + args->length;

	mutex_lock(&obj->migrate_lock);
	mmap_read_lock(obj->mm);
	ret = mdrm_check_migratable(obj->mm, start, end);
	for (addr = start; !ret && addr < end; addr += PAGE_SIZE) {
		unsigned long idx = (addr - obj->start) >> PAGE_SHIFT;
		unsigned long seq = mmu_interval_read_begin(&obj->notifier);
		struct folio *folio;
		struct page *page;

		WRITE_ONCE(obj->migrator, current);
		page = make_device_exclusive(obj->mm, addr, mdev->owner, &folio);
		WRITE_ONCE(obj->migrator, NULL);
		if (IS_ERR(page)) {
			ret = PTR_ERR(page);
			break;
		}
		/*
		 * The folio lock keeps the CPU out until the device view shows
		 * the page: a CPU access then revokes it through the notifier.
		 */
		mutex_lock(&obj->lock);
		if (!mmu_interval_read_retry(&obj->notifier, seq)) {
			if (!(obj->state[idx] & MDRM_ST_VALID))
				mdrm_count(obj, MDRM_CNT(pages_valid), 1);
			obj->pfns[idx] = page_to_pfn(page) | HMM_PFN_VALID |
					 HMM_PFN_WRITE;
			obj->state[idx] = MDRM_ST_VALID | MDRM_ST_WRITE |
					  MDRM_ST_EXCL;
			args->pages++;
		}
		mutex_unlock(&obj->lock);
		folio_unlock(folio);
		folio_put(folio);
	}
	mmap_read_unlock(obj->mm);
	mutex_unlock(&obj->migrate_lock);
	mmput(obj->mm);
out_put:
	drm_gem_object_put(&obj->base);
	return ret;
}

void mdrm_devmem_info(struct mdrm_device *mdev,
		      struct drm_mirrordrm_device_info *info)
{
	struct mdrm_devmem *dm = mdev->devmem;

	info->caps |= MIRRORDRM_CAP_DEVICE_PRIVATE | MIRRORDRM_CAP_EXCLUSIVE;
	if (IS_ENABLED(CONFIG_ARCH_ENABLE_THP_MIGRATION))
		info->caps |= MIRRORDRM_CAP_MIGRATE_COMPOUND;
	if (!dm)
		return;
	info->devmem_pages = dm->npages;
	spin_lock(&dm->lock);
	info->devmem_free = dm->nfree;
	spin_unlock(&dm->lock);
	info->devmem_pfn = capable(CAP_SYS_ADMIN) ? dm->pfn_first : 0;
	info->to_device = atomic64_read(&dm->cnt[MDRM_DM_TO_DEVICE]);
	info->to_ram = atomic64_read(&dm->cnt[MDRM_DM_TO_RAM]);
	info->cpu_faults = atomic64_read(&dm->cnt[MDRM_DM_CPU_FAULTS]);
	info->fault_pages = atomic64_read(&dm->cnt[MDRM_DM_FAULT_PAGES]);
	info->folio_frees = atomic64_read(&dm->cnt[MDRM_DM_FOLIO_FREES]);
	info->folio_splits = atomic64_read(&dm->cnt[MDRM_DM_FOLIO_SPLITS]);
	info->thp_allocs = atomic64_read(&dm->cnt[MDRM_DM_THP_ALLOCS]);
	info->alloc_failures = atomic64_read(&dm->cnt[MDRM_DM_ALLOC_FAILURES]);
	info->evicted = atomic64_read(&dm->cnt[MDRM_DM_EVICTED]);
}

/*
 * Move every page still on the device back to system memory (processes may
 * hold device pages after closing the device), so that memunmap_pages() has
 * no reference to wait for.  migrate_device_range() finds the pages by pfn,
 * whatever maps them.
 */
static void mdrm_devmem_evict(struct mdrm_devmem *dm)
{
	unsigned long *src, *dst, i;

	src = kvcalloc(dm->npages, sizeof(*src), GFP_KERNEL | __GFP_NOFAIL);
	dst = kvcalloc(dm->npages, sizeof(*dst), GFP_KERNEL | __GFP_NOFAIL);
	migrate_device_range(src, dm->pfn_first, dm->npages);
	for (i = 0; i < dm->npages; i++) {
		struct page *spage = migrate_pfn_to_page(src[i]);
		unsigned int order = 0;
		struct folio *dfolio;
		unsigned long j;

		if (!spage || !(src[i] & MIGRATE_PFN_MIGRATE))
			continue;
		if (src[i] & MIGRATE_PFN_COMPOUND)
			order = folio_order(page_folio(spage));
		if (order) {
			dfolio = folio_alloc(GFP_HIGHUSER_MOVABLE, order);
			if (!dfolio)	/* stays; the next pass tries again */
				continue;
		} else {
			dfolio = page_folio(alloc_page(GFP_HIGHUSER_MOVABLE |
						       __GFP_NOFAIL));
		}
		folio_lock(dfolio);
		for (j = 0; j < (1UL << order); j++)
			copy_highpage(folio_page(dfolio, j),
				      mdrm_devmem_backing(spage + j));
		dst[i] = migrate_pfn(folio_pfn(dfolio));
		if (src[i] & MIGRATE_PFN_WRITE)
			dst[i] |= MIGRATE_PFN_WRITE;
		if (order)
			dst[i] |= MIGRATE_PFN_COMPOUND;
		atomic64_add(1UL << order, &dm->cnt[MDRM_DM_EVICTED]);
	}
	migrate_device_pages(src, dst, dm->npages);
	migrate_device_finalize(src, dst, dm->npages);
	kvfree(src);
	kvfree(dst);
}

int mdrm_devmem_init(struct mdrm_device *mdev, unsigned long size)
{
	struct mdrm_devmem *dm;
	struct resource *res;
	void *ptr;
	int ret = -ENOMEM;

	size = ALIGN(size, PMD_SIZE);
	dm = kzalloc(sizeof(*dm), GFP_KERNEL);
	if (!dm)
		return -ENOMEM;
	spin_lock_init(&dm->lock);
	dm->mdev = mdev;
	dm->npages = size >> PAGE_SHIFT;
	dm->nfree = dm->npages;
	dm->used = bitmap_zalloc(dm->npages, GFP_KERNEL);
	dm->backing = kvcalloc(dm->npages, sizeof(*dm->backing), GFP_KERNEL);
	if (!dm->used || !dm->backing)
		goto err_free;

	res = request_free_mem_region(&iomem_resource, size, "mirrordrm devmem");
	if (IS_ERR(res)) {
		ret = PTR_ERR(res);
		goto err_free;
	}
	dm->res = res;
	dm->pagemap.type = MEMORY_DEVICE_PRIVATE;
	dm->pagemap.range.start = res->start;
	dm->pagemap.range.end = res->end;
	dm->pagemap.nr_range = 1;
	dm->pagemap.ops = &mdrm_devmem_ops;
	dm->pagemap.owner = mdev->owner;
	ptr = memremap_pages(&dm->pagemap, numa_node_id());
	if (IS_ERR(ptr)) {
		ret = PTR_ERR(ptr);
		goto err_region;
	}
	dm->pfn_first = res->start >> PAGE_SHIFT;
	mdev->devmem = dm;
	return 0;

err_region:
	release_mem_region(res->start, resource_size(res));
err_free:
	kvfree(dm->backing);
	bitmap_free(dm->used);
	kfree(dm);
	return ret;
}

void mdrm_devmem_fini(struct mdrm_device *mdev)
{
	struct mdrm_devmem *dm = mdev->devmem;

	int pass;

	if (!dm)
		return;
	/* a 2 MiB system folio may be short once; try again after the rest */
	for (pass = 0; pass < 3 && READ_ONCE(dm->nfree) != dm->npages; pass++)
		mdrm_devmem_evict(dm);
	memunmap_pages(&dm->pagemap);
	release_mem_region(dm->res->start, resource_size(dm->res));
	kvfree(dm->backing);
	bitmap_free(dm->used);
	kfree(dm);
	mdev->devmem = NULL;
}

#endif /* MDRM_HAVE_DEVMEM */
