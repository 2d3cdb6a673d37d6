// SPDX-License-Identifier: GPL-2.0
/*
 * fakevram: device-like memory mapped into user space with 4 KiB, 2 MiB and
 * 1 GiB page-table entries, the way a GPU driver maps VRAM (a BAR) or
 * contiguous system memory, for testing and measuring the kernel paths
 * behind such mappings (faults, zaps, fork, mremap, and GUP refusing them).
 *
 * Memory (fixed at load time, see the module parameters):
 *   kind=iomem base=B size=S: the physical range [B, B + S), which must be
 *	outside System RAM (reserve it with memmap=S$B).  The module claims it
 *	with request_mem_region() and reaches it through memremap(); no struct
 *	page is ever used for it, like a VRAM BAR.
 *   kind=pages size=S: S bytes of physically contiguous system pages taken
 *	with alloc_contig_range(), aligned to min(S rounded up to a power of
 *	two, 1 GiB) so that huge entries are possible.
 * Both are zeroed at load, mapped VM_IO | VM_PFNMAP, MAP_SHARED only.
 *
 * Faults: ->fault inserts 4 KiB entries with vmf_insert_pfn().  ->huge_fault
 * inserts PMD and PUD entries with vmf_insert_pfn_pmd/pud() where the kernel
 * has special huge pfnmaps (CONFIG_ARCH_SUPPORTS_P[MU]D_PFNMAP, 6.12): those
 * entries carry the special bit, so fast GUP refuses them as it refuses
 * special PTEs.  Older kernels (6.1) have no special bit for huge entries:
 * a huge pfnmap entry there looks like a THP to fast GUP, which would take
 * references on struct pages that do not exist (iomem) or that the driver
 * owns (pages), the bug the 2021 TTM discussion was about.  There this module
 * never inserts huge entries: ->huge_fault returns VM_FAULT_FALLBACK (and
 * the 6.1 core never calls it for VM_PFNMAP VMAs anyway: hugepage_vma_check()
 * rejects VM_NO_KHUGEPAGED, which includes VM_PFNMAP).
 *
 * Locking:
 * - struct fv_device is written only at module init and exit; while the
 *   misc device exists it is read-only, so no lock protects it.  The
 *   module cannot be unloaded while a file is open or a VMA maps it (each
 *   VMA holds a reference to the file, each file to the module).
 * - struct fv_file (one per open) holds the policy as one 32-bit word read
 *   with READ_ONCE() by fault handlers and replaced with WRITE_ONCE() by the
 *   ioctl, so a fault sees either the old or the new policy, never a mix;
 *   a policy change applies to later faults and leaves present entries.
 *   Counters are atomic64_t; a reset swaps each to zero on its own, so a
 *   reset racing with faults loses no event (each lands before or after).
 * - Page tables: the fault handlers run with the mmap_lock or the VMA lock
 *   held for read, as the core calls them.  Entries are inserted only
 *   through vmf_insert_pfn() and vmf_insert_pfn_pmd/pud(), which take the
 *   page-table lock and install an entry only where the slot is empty.
 *   Prefault fills other slots of the same VMA the same way; it never makes
 *   the core allocate an upper page-table level that a concurrent fault
 *   could fill with a huge entry at the same time (see fv_prefault()).
 * - Evict calls unmap_mapping_range() on the device's address_space, which
 *   takes i_mmap_rwsem and each page table's lock itself.
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/errno.h>
#include <linux/fs.h>
#include <linux/gfp.h>
#include <linux/io.h>
#include <linux/ioport.h>
#include <linux/kernel.h>
#include <linux/log2.h>
#include <linux/memory_hotplug.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/mman.h>
#include <linux/module.h>
#include <linux/pagemap.h>
#include <linux/sched/mm.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/sizes.h>
#include <linux/smp.h>
#include <linux/string.h>
#include <linux/uaccess.h>
#include <linux/version.h>
#include <asm/tlbflush.h>

#include "uapi/fakevram.h"

#if defined(CONFIG_ARCH_SUPPORTS_PMD_PFNMAP)
#define FV_HUGE_PMD	1
#else
#define FV_HUGE_PMD	0
#endif
#if defined(CONFIG_ARCH_SUPPORTS_PUD_PFNMAP)
#define FV_HUGE_PUD	1
#else
#define FV_HUGE_PUD	0
#endif

/*
 * vmf_insert_pfn_pmd/pud() take the bare pfn since 6.17 (pfn_t is gone).
 * Before, PFN_DEV without PFN_MAP asked for the same entry: special, not
 * devmap, as there is no struct page behind it to refcount.
 */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 17, 0)
#define fv_huge_pfn(pfn)	(pfn)
#else
#include <linux/pfn_t.h>
#define fv_huge_pfn(pfn)	__pfn_to_pfn_t(pfn, PFN_DEV)
#endif

/*
 * Zapping a VM_PFNMAP range is zap_special_vma_range() in 7.2's headers,
 * zap_vma_ptes() up to 6.12 (the release in between that renamed it is not
 * one we build for, so the check names the first one we know).  Either
 * takes the range out of a VM_PFNMAP vma only.
 */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(7, 2, 0)
#define fv_zap(vma, addr, size)	zap_special_vma_range(vma, addr, size)
#else
#define fv_zap(vma, addr, size)	zap_vma_ptes(vma, addr, size)
#endif

/* ->huge_fault takes an order since 6.6, an enum page_entry_size before. */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 6, 0)
#define FV_HUGE_FAULT_ORDER	1
#else
#define FV_HUGE_FAULT_ORDER	0
#endif

static char *kind = "pages";
module_param(kind, charp, 0444);
MODULE_PARM_DESC(kind, "iomem (a reserved physical range, see base=) or pages (contiguous system pages)");

static char *base;
module_param(base, charp, 0444);
MODULE_PARM_DESC(base, "iomem: physical base address (page aligned, outside System RAM), e.g. 0x100000000 or 4G");

static char *size = "64M";
module_param(size, charp, 0444);
MODULE_PARM_DESC(size, "bytes of device memory (page aligned), e.g. 1G");

struct fv_device {
	struct miscdevice misc;
	u32 kind;		/* FAKEVRAM_KIND_* */
	phys_addr_t phys;	/* first byte */
	u64 size;		/* bytes */
	unsigned long pfn;	/* first pfn */
	unsigned long npages;
	void *kaddr;		/* kernel mapping of the whole range */
	struct resource *res;	/* iomem: our claim on the range */
};

static struct fv_device fv_dev;

struct fv_counters {
	atomic64_t faults[FAKEVRAM_NR_ENTRY_SIZES];
	atomic64_t huge_fault_calls[FAKEVRAM_NR_ENTRY_SIZES];
	atomic64_t fallbacks[FAKEVRAM_NR_ENTRY_SIZES];
	atomic64_t prefault_entries[FAKEVRAM_NR_ENTRY_SIZES];
	atomic64_t prefault_skipped;
	atomic64_t sigbus;
	atomic64_t zaps;
	atomic64_t mmaps;
	atomic64_t vma_opens;
	atomic64_t vma_closes;
	atomic64_t split_zaps;
};

/* Policy word: bits 0-7 max_entry, bits 8-15 FAKEVRAM_POLICY_* flags. */
#define FV_POLICY(max, flags)	((u32)(max) | ((u32)(flags) << 8))
#define FV_POLICY_MAX(p)	((p) & 0xff)
#define FV_POLICY_FLAGS(p)	(((p) >> 8) & 0xff)

struct fv_file {
	struct fv_device *dev;
	u32 policy;		/* READ_ONCE/WRITE_ONCE, see Locking */
	struct fv_counters c;
};

static inline struct fv_file *fv_file_of(struct vm_area_struct *vma)
{
	return vma->vm_file->private_data;
}

static inline void fv_inc(atomic64_t *v)
{
	atomic64_inc(v);
}

static unsigned int fv_entry_shift(unsigned int entry)
{
	switch (entry) {
	case FAKEVRAM_ENTRY_PUD:
		return PUD_SHIFT;
	case FAKEVRAM_ENTRY_PMD:
		return PMD_SHIFT;
	default:
		return PAGE_SHIFT;
	}
}

/* The largest entry this build may insert, whatever the policy says. */
static unsigned int fv_max_supported(void)
{
	if (FV_HUGE_PUD)
		return FAKEVRAM_ENTRY_PUD;
	if (FV_HUGE_PMD)
		return FAKEVRAM_ENTRY_PMD;
	return FAKEVRAM_ENTRY_PTE;
}

/*
 * Device page index mapped at @addr of @vma, or ULONG_MAX when @addr lies
 * outside the device memory.  vm_pgoff was checked against the device size
 * at mmap time and VMAs cannot grow (VM_DONTEXPAND), but the check is
 * repeated here so that no fault can ever reach another physical address.
 */
static unsigned long fv_index(struct vm_area_struct *vma, unsigned long addr)
{
	struct fv_device *dev = fv_file_of(vma)->dev;
	unsigned long idx;

	if (addr < vma->vm_start || addr >= vma->vm_end)
		return ULONG_MAX;
	idx = (addr - vma->vm_start) >> PAGE_SHIFT;
	if (vma->vm_pgoff >= dev->npages || idx >= dev->npages - vma->vm_pgoff)
		return ULONG_MAX;
	return vma->vm_pgoff + idx;
}

/*
 * Can an entry of @entry size map the aligned slot around @addr?  The slot
 * must lie inside the VMA and the device memory, and its pfn must be
 * aligned to the entry size.  Returns the slot's first pfn, or 0.
 */
static unsigned long fv_slot_pfn(struct vm_area_struct *vma, unsigned long addr,
				 unsigned int entry)
{
	struct fv_device *dev = fv_file_of(vma)->dev;
	unsigned long sz = 1UL << fv_entry_shift(entry);
	unsigned long haddr = addr & ~(sz - 1);
	unsigned long first, last, pfn;

	if (haddr < vma->vm_start || haddr + sz > vma->vm_end || haddr + sz < haddr)
		return 0;
	first = fv_index(vma, haddr);
	last = fv_index(vma, haddr + sz - PAGE_SIZE);
	if (first == ULONG_MAX || last == ULONG_MAX)
		return 0;
	pfn = dev->pfn + first;
	if (pfn & ((sz >> PAGE_SHIFT) - 1))
		return 0;
	return pfn;
}

#if FV_HUGE_PMD || FV_HUGE_PUD
/*
 * Prefault: fill the empty slots of the faulting VMA with the largest
 * entries up to @max that fit.
 *
 * vmf_insert_pfn_pmd/pud() work on a struct vm_fault and use only its vma,
 * address and pmd or pud pointer, so for another slot of the same VMA we
 * build a vm_fault naming that slot's entry.  We only ever hold the locks
 * the core holds for the faulting address (mmap_lock or the VMA lock, for
 * read), which cover the whole VMA.  Rules that keep this safe:
 * - a huge PUD goes only into an existing PUD table slot (the P4D must be
 *   present) and is installed by insert_pfn_pud() under the PUD lock only
 *   if that slot is still empty;
 * - a huge PMD goes only where the PUD entry is a present table; a PUD
 *   table pointer cannot go away or become a leaf while we hold the lock
 *   for this VMA (page tables are freed only under mmap_lock for write);
 * - a 4 KiB entry goes only where the PUD entry is a present table and the
 *   PMD entry is not a leaf: vmf_insert_pfn() may then allocate a PTE
 *   table, and if a concurrent fault installs a huge PMD first, the core's
 *   pte_offset_map_lock() sees it and our insert fails without effect.
 *   We never let vmf_insert_pfn() allocate a PMD table under an empty PUD
 *   entry: a concurrent PUD fault could install a leaf there first, and
 *   pmd_offset() on a leaf would point into device memory.
 * Slots that do not meet these rules are left to their own faults and
 * counted as skipped.  write is false: entries get vm_page_prot, which is
 * writable for a writable shared mapping; no dirty/young bits are forced.
 */
static void fv_prefault(struct vm_fault *vmf, unsigned int max)
{
	struct vm_area_struct *vma = vmf->vma;
	struct fv_file *f = fv_file_of(vma);
	struct mm_struct *mm = vma->vm_mm;
	unsigned long addr = vma->vm_start;
	unsigned long n = 0;

	while (addr < vma->vm_end) {
		unsigned int entry = max;
		unsigned long pfn = 0, sz;
		pgd_t *pgdp;
		p4d_t *p4dp;
		pud_t *pudp, pud;
		pmd_t *pmdp = NULL, pmd;
		vm_fault_t ret = 0;

		if ((++n & 1023) == 0 && fatal_signal_pending(current))
			return;

		for (;;) {
			pfn = fv_slot_pfn(vma, addr, entry);
			if (pfn || entry == FAKEVRAM_ENTRY_PTE)
				break;
			entry--;
		}
		sz = 1UL << fv_entry_shift(entry);
		if (!pfn)	/* outside the device memory: nothing to map */
			goto next;
		if (addr == (vmf->address & ~(sz - 1)))
			goto next;	/* the faulting slot, already handled */

		pgdp = pgd_offset(mm, addr);
		if (pgd_none(READ_ONCE(*pgdp)))
			goto skip;
		p4dp = p4d_offset(pgdp, addr);
		if (!p4d_present(READ_ONCE(*p4dp)))
			goto skip;
		pudp = pud_offset(p4dp, addr);
		pud = READ_ONCE(*pudp);

		if (entry == FAKEVRAM_ENTRY_PUD) {
#if FV_HUGE_PUD
			struct vm_fault v = {
				.vma = vma, .address = addr, .flags = vmf->flags,
				.pgoff = linear_page_index(vma, addr), .pud = pudp,
			};

			if (!pud_none(pud))
				goto skip;
			ret = vmf_insert_pfn_pud(&v, fv_huge_pfn(pfn), false);
#endif
			goto done;
		}

		if (!pud_present(pud) || pud_leaf(pud))
			goto skip;
		pmdp = pmd_offset(pudp, addr);
		pmd = pmdp_get_lockless(pmdp);

		if (entry == FAKEVRAM_ENTRY_PMD) {
			struct vm_fault v = {
				.vma = vma, .address = addr, .flags = vmf->flags,
				.pgoff = linear_page_index(vma, addr), .pmd = pmdp,
			};

			if (!pmd_none(pmd))
				goto skip;
			ret = vmf_insert_pfn_pmd(&v, fv_huge_pfn(pfn), false);
			goto done;
		}

		if (pmd_leaf(pmd))
			goto skip;
		ret = vmf_insert_pfn(vma, addr, pfn);
done:
		if (ret == VM_FAULT_NOPAGE)
			fv_inc(&f->c.prefault_entries[entry]);
		else
			fv_inc(&f->c.prefault_skipped);
		goto next;
skip:
		fv_inc(&f->c.prefault_skipped);
next:
		if (addr + sz < addr)
			break;
		addr += sz;
	}
}
#endif

/* ->fault: one 4 KiB entry (or, with PREFAULT, the whole VMA). */
static vm_fault_t fv_fault(struct vm_fault *vmf)
{
	struct vm_area_struct *vma = vmf->vma;
	struct fv_file *f = fv_file_of(vma);
	u32 policy = READ_ONCE(f->policy);
	unsigned long idx = fv_index(vma, vmf->address);
	vm_fault_t ret;

	if (idx == ULONG_MAX) {
		fv_inc(&f->c.sigbus);
		return VM_FAULT_SIGBUS;
	}

	ret = vmf_insert_pfn(vma, vmf->address, f->dev->pfn + idx);
#if FV_HUGE_PMD
	/*
	 * A concurrent huge fault may have installed a PMD leaf after the core
	 * found the PMD empty; vmf_insert_pfn() then finds no PTE table and
	 * reports VM_FAULT_OOM without changing anything.  The address is
	 * mapped: let the access retry rather than report OOM.
	 */
	if (ret == VM_FAULT_OOM && vmf->pmd && pmd_leaf(pmdp_get_lockless(vmf->pmd)))
		return VM_FAULT_NOPAGE;
#endif
	if (ret != VM_FAULT_NOPAGE)
		return ret;
	fv_inc(&f->c.faults[FAKEVRAM_ENTRY_PTE]);

	if (FV_POLICY_FLAGS(policy) & FAKEVRAM_POLICY_PREFAULT) {
#if FV_HUGE_PMD || FV_HUGE_PUD
		fv_prefault(vmf, min_t(u32, FV_POLICY_MAX(policy), fv_max_supported()));
#else
		/*
		 * No huge pfnmaps on this kernel: prefault with 4 KiB entries,
		 * as TTM does.  No huge entry can exist in this VMA (we never
		 * insert one here), so vmf_insert_pfn() may allocate any table.
		 */
		unsigned long addr, n = 0;

		for (addr = vma->vm_start; addr < vma->vm_end; addr += PAGE_SIZE) {
			idx = fv_index(vma, addr);
			if (idx == ULONG_MAX)
				break;
			if ((++n & 1023) == 0 && fatal_signal_pending(current))
				break;
			if (addr == (vmf->address & PAGE_MASK))
				continue;
			if (vmf_insert_pfn(vma, addr, f->dev->pfn + idx) == VM_FAULT_NOPAGE)
				fv_inc(&f->c.prefault_entries[FAKEVRAM_ENTRY_PTE]);
			else
				fv_inc(&f->c.prefault_skipped);
		}
#endif
	}
	return ret;
}

#if FV_HUGE_FAULT_ORDER
static vm_fault_t fv_huge_fault(struct vm_fault *vmf, unsigned int order)
#else
static vm_fault_t fv_huge_fault(struct vm_fault *vmf, enum page_entry_size pe_size)
#endif
{
	struct vm_area_struct *vma = vmf->vma;
	struct fv_file *f = fv_file_of(vma);
	u32 policy = READ_ONCE(f->policy);
	unsigned int entry;
	vm_fault_t ret = VM_FAULT_FALLBACK;
	unsigned long pfn;

#if FV_HUGE_FAULT_ORDER
	if (order == PMD_SHIFT - PAGE_SHIFT)
		entry = FAKEVRAM_ENTRY_PMD;
	else if (order == PUD_SHIFT - PAGE_SHIFT)
		entry = FAKEVRAM_ENTRY_PUD;
	else
		return VM_FAULT_FALLBACK;
#else
	if (pe_size == PE_SIZE_PMD)
		entry = FAKEVRAM_ENTRY_PMD;
	else if (pe_size == PE_SIZE_PUD)
		entry = FAKEVRAM_ENTRY_PUD;
	else
		return VM_FAULT_FALLBACK;
#endif
	fv_inc(&f->c.huge_fault_calls[entry]);

	if (entry > FV_POLICY_MAX(policy) || entry > fv_max_supported())
		goto fallback;
	pfn = fv_slot_pfn(vma, vmf->address, entry);
	if (!pfn)
		goto fallback;

	/*
	 * The core calls ->huge_fault on an empty entry (a new mapping) or on a
	 * present read-only huge entry (a write fault).  In the second case
	 * inserting with write=false would change nothing and the access would
	 * fault forever, and write=true can WARN in insert_pfn_p[mu]d() if the
	 * entry changed under us (zapped, then a table installed).  Fall back
	 * instead: the core then zaps the huge entry and faults 4 KiB entries.
	 */
	if (entry == FAKEVRAM_ENTRY_PMD) {
#if FV_HUGE_PMD
		if (!pmd_none(pmdp_get_lockless(vmf->pmd)))
			goto fallback;
		ret = vmf_insert_pfn_pmd(vmf, fv_huge_pfn(pfn), false);
#endif
	} else {
#if FV_HUGE_PUD
		if (!pud_none(READ_ONCE(*vmf->pud)))
			goto fallback;
		ret = vmf_insert_pfn_pud(vmf, fv_huge_pfn(pfn), false);
#endif
	}
	if (ret != VM_FAULT_NOPAGE)
		goto fallback;
	fv_inc(&f->c.faults[entry]);

#if FV_HUGE_PMD || FV_HUGE_PUD
	if (FV_POLICY_FLAGS(policy) & FAKEVRAM_POLICY_PREFAULT)
		fv_prefault(vmf, min_t(u32, FV_POLICY_MAX(policy), fv_max_supported()));
#endif
	return ret;

fallback:
	fv_inc(&f->c.fallbacks[entry]);
	return VM_FAULT_FALLBACK;
}

static void fv_vma_open(struct vm_area_struct *vma)
{
	fv_inc(&fv_file_of(vma)->c.vma_opens);
}

static void fv_vma_close(struct vm_area_struct *vma)
{
	fv_inc(&fv_file_of(vma)->c.vma_closes);
}

/*
 * Called with mmap_lock held for write before a VMA is split at @addr
 * (mprotect, munmap, mremap or madvise of part of it).
 *
 * The core splits huge PMD entries that straddle the new boundary
 * (vma_adjust_trans_huge()), but not huge PUD entries: on 6.12 it goes
 * split_huge_pmd_address() -> mm_find_pmd(), which checks pud_present()
 * but not pud_leaf(), and takes pmd_offset() of the PUD leaf: the "PMD
 * table" is then our device memory and __split_huge_pmd() locks a page
 * that does not exist (an Oops in _raw_spin_lock, seen on 6.12.117 with
 * mprotect of 2 MiB inside a PUD-mapped range).  So zap the PUD slot that
 * spans @addr first.  The memory stays; the next access faults it in again
 * with entries that fit the new VMAs.
 */
static int fv_may_split(struct vm_area_struct *vma, unsigned long addr)
{
#if FV_HUGE_PUD
	unsigned long haddr = addr & PUD_MASK;

	if (haddr != addr && haddr >= vma->vm_start && haddr + PUD_SIZE <= vma->vm_end &&
	    haddr + PUD_SIZE > haddr) {
		fv_zap(vma, haddr, PUD_SIZE);
		fv_inc(&fv_file_of(vma)->c.split_zaps);
	}
#endif
	return 0;
}

#if FV_HUGE_PUD
#if LINUX_VERSION_CODE >= KERNEL_VERSION(7, 2, 0)
/*
 * 7.2 exports __flush_tlb_all() to KVM only.  Do what it does on a CPU
 * without INVPCID: toggling CR4.PGE drops every TLB entry, global ones and
 * those of every PCID included.  Written here because native_write_cr4()
 * is not exported either; the value put back is the one read, so the
 * kernel's shadow of CR4 stays right.  on_each_cpu() calls this with
 * interrupts off, as the kernel's own toggle needs.
 */
static void fv_flush_local_tlb(void *unused)
{
	unsigned long cr4 = native_read_cr4();

	asm volatile("mov %0, %%cr4" : : "r" (cr4 ^ X86_CR4_PGE) : "memory");
	asm volatile("mov %0, %%cr4" : : "r" (cr4) : "memory");
}
#else
static void fv_flush_local_tlb(void *unused)
{
	__flush_tlb_all();
}
#endif

/*
 * Called after mremap() moved a VMA.  On 6.12, move_page_tables() reaches
 * a huge PUD entry through get_old_pud() -> pud_none_or_clear_bad(), which
 * takes the leaf for a bad table pointer, logs "bad pud" and clears it
 * without a TLB flush; nothing later is sure to flush that 1 GiB
 * translation of the old address (seen on 6.12.117: data written through a
 * new mapping that reused the old address went astray).  The moved range
 * itself refaults correctly.  Flush every CPU's TLB here, before mremap()
 * returns to user space.  Costly, but mremap of device memory is rare.
 */
static int fv_mremap(struct vm_area_struct *vma)
{
	on_each_cpu(fv_flush_local_tlb, NULL, 1);
	return 0;
}
#endif

static const struct vm_operations_struct fv_vm_ops = {
	.open = fv_vma_open,
	.close = fv_vma_close,
	.may_split = fv_may_split,
#if FV_HUGE_PUD
	.mremap = fv_mremap,
#endif
	.fault = fv_fault,
	.huge_fault = fv_huge_fault,
};

static int fv_mmap(struct file *file, struct vm_area_struct *vma)
{
	struct fv_file *f = file->private_data;
	struct fv_device *dev = f->dev;

	/*
	 * Shared only: a private (COW) VM_PFNMAP mapping would hit the BUG_ON
	 * in vmf_insert_pfn*() for COW mappings, and device memory has no
	 * COW semantics anyway.  VM_SHARED cannot be dropped later.
	 */
	if (!(vma->vm_flags & VM_SHARED))
		return -EINVAL;
	if (vma->vm_pgoff >= dev->npages ||
	    vma_pages(vma) > dev->npages - vma->vm_pgoff)
		return -EINVAL;

#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 3, 0)
	vm_flags_set(vma, VM_IO | VM_PFNMAP | VM_DONTEXPAND | VM_DONTDUMP);
#else
	vma->vm_flags |= VM_IO | VM_PFNMAP | VM_DONTEXPAND | VM_DONTDUMP;
#endif
	vma->vm_ops = &fv_vm_ops;
	fv_inc(&f->c.mmaps);
	return 0;
}

static unsigned long fv_mm_get_unmapped_area(struct file *file, unsigned long addr,
					     unsigned long len, unsigned long pgoff,
					     unsigned long flags)
{
#if LINUX_VERSION_CODE >= KERNEL_VERSION(7, 2, 0)
	/* 7.2's takes current->mm itself (not checked for 6.13 to 7.1). */
	return mm_get_unmapped_area(file, addr, len, pgoff, flags);
#elif LINUX_VERSION_CODE >= KERNEL_VERSION(6, 10, 0)
	return mm_get_unmapped_area(current->mm, file, addr, len, pgoff, flags);
#else
	return current->mm->get_unmapped_area(file, addr, len, pgoff, flags);
#endif
}

/*
 * Place the mapping so that its virtual address and the physical address
 * it maps are congruent modulo the largest entry the policy allows (and
 * that fits in len): only then can a PMD or PUD entry map it.  Same idea as
 * thp_get_unmapped_area(), but aligned to the physical address rather than
 * to the file offset, and up to PUD_SIZE.
 */
static unsigned long fv_get_unmapped_area(struct file *file, unsigned long addr,
					  unsigned long len, unsigned long pgoff,
					  unsigned long flags)
{
	struct fv_file *f = file->private_data;
	u32 policy = READ_ONCE(f->policy);
	unsigned int entry = min_t(u32, FV_POLICY_MAX(policy), fv_max_supported());
	unsigned long align, len_pad, want, ret;

	if ((flags & MAP_FIXED) || (FV_POLICY_FLAGS(policy) & FAKEVRAM_POLICY_NO_ALIGN))
		goto plain;
	while (entry > FAKEVRAM_ENTRY_PTE && len < (1UL << fv_entry_shift(entry)))
		entry--;
	if (entry == FAKEVRAM_ENTRY_PTE || pgoff >= f->dev->npages)
		goto plain;
	align = 1UL << fv_entry_shift(entry);
	len_pad = len + align;
	if (len_pad < len)
		goto plain;

	want = (f->dev->phys + ((u64)pgoff << PAGE_SHIFT)) & (align - 1);
	if (addr) {
		/* Honour a hint that is free and already congruent. */
		ret = fv_mm_get_unmapped_area(file, addr, len, pgoff, flags);
		if (!IS_ERR_VALUE(ret) && ret == addr && (ret & (align - 1)) == want)
			return ret;
	}
	ret = fv_mm_get_unmapped_area(file, 0, len_pad, pgoff, flags);
	if (IS_ERR_VALUE(ret))
		goto plain;
	return ret + ((want - ret) & (align - 1));
plain:
	return fv_mm_get_unmapped_area(file, addr, len, pgoff, flags);
}

static int fv_open(struct inode *inode, struct file *file)
{
	struct fv_device *dev = container_of(file->private_data, struct fv_device, misc);
	struct fv_file *f;

	f = kzalloc(sizeof(*f), GFP_KERNEL);
	if (!f)
		return -ENOMEM;
	f->dev = dev;
	f->policy = FV_POLICY(fv_max_supported(), 0);
	file->private_data = f;
	return 0;
}

static int fv_release(struct inode *inode, struct file *file)
{
	kfree(file->private_data);
	return 0;
}

static long fv_ioc_info(struct fv_file *f, void __user *arg)
{
	struct fakevram_info info = {
		.size = f->dev->size,
		.phys_base = f->dev->phys,
		.kind = f->dev->kind,
		.caps = (FV_HUGE_PMD ? FAKEVRAM_CAP_PMD : 0) |
			(FV_HUGE_PUD ? FAKEVRAM_CAP_PUD : 0),
		.page_shift = PAGE_SHIFT,
		.pmd_shift = PMD_SHIFT,
		.pud_shift = PUD_SHIFT,
		.kernel_version = LINUX_VERSION_CODE,
	};

	return copy_to_user(arg, &info, sizeof(info)) ? -EFAULT : 0;
}

static bool fv_zero(const __u64 *v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (v[i])
			return false;
	return true;
}

static long fv_ioc_set_policy(struct fv_file *f, void __user *arg)
{
	struct fakevram_policy p;

	if (copy_from_user(&p, arg, sizeof(p)))
		return -EFAULT;
	if (p.max_entry >= FAKEVRAM_NR_ENTRY_SIZES || (p.flags & ~FAKEVRAM_POLICY_FLAGS) ||
	    !fv_zero(p.reserved, ARRAY_SIZE(p.reserved)))
		return -EINVAL;
	/*
	 * A max_entry above what this kernel supports is accepted and kept
	 * (GET_POLICY returns it): faults then fall back to the largest
	 * supported size and the counters show it.
	 */
	WRITE_ONCE(f->policy, FV_POLICY(p.max_entry, p.flags));
	return 0;
}

static long fv_ioc_get_policy(struct fv_file *f, void __user *arg)
{
	u32 policy = READ_ONCE(f->policy);
	struct fakevram_policy p = {
		.max_entry = FV_POLICY_MAX(policy),
		.flags = FV_POLICY_FLAGS(policy),
	};

	return copy_to_user(arg, &p, sizeof(p)) ? -EFAULT : 0;
}

static __u64 fv_read_counter(atomic64_t *v, bool reset)
{
	return reset ? atomic64_xchg(v, 0) : atomic64_read(v);
}

static long fv_ioc_counters(struct fv_file *f, void __user *arg)
{
	struct fakevram_counters out;
	struct fv_counters *c = &f->c;
	u32 flags;
	bool reset;
	int i;

	if (copy_from_user(&out, arg, sizeof(out)))
		return -EFAULT;
	flags = out.flags;
	if ((flags & ~FAKEVRAM_COUNTERS_FLAGS) || out.pad ||
	    !fv_zero(out.reserved, ARRAY_SIZE(out.reserved)))
		return -EINVAL;
	reset = flags & FAKEVRAM_COUNTERS_RESET;

	memset(&out, 0, sizeof(out));
	out.flags = flags;
	for (i = 0; i < FAKEVRAM_NR_ENTRY_SIZES; i++) {
		out.faults[i] = fv_read_counter(&c->faults[i], reset);
		out.huge_fault_calls[i] = fv_read_counter(&c->huge_fault_calls[i], reset);
		out.fallbacks[i] = fv_read_counter(&c->fallbacks[i], reset);
		out.prefault_entries[i] = fv_read_counter(&c->prefault_entries[i], reset);
	}
	out.prefault_skipped = fv_read_counter(&c->prefault_skipped, reset);
	out.sigbus = fv_read_counter(&c->sigbus, reset);
	out.zaps = fv_read_counter(&c->zaps, reset);
	out.mmaps = fv_read_counter(&c->mmaps, reset);
	out.vma_opens = fv_read_counter(&c->vma_opens, reset);
	out.vma_closes = fv_read_counter(&c->vma_closes, reset);
	out.split_zaps = fv_read_counter(&c->split_zaps, reset);
	return copy_to_user(arg, &out, sizeof(out)) ? -EFAULT : 0;
}

static long fv_ioc_evict(struct fv_file *f, struct file *file, void __user *arg)
{
	struct fv_device *dev = f->dev;
	struct fakevram_evict ev;
	u64 start, end, pstart, pend, blk = PUD_SIZE;

	if (copy_from_user(&ev, arg, sizeof(ev)))
		return -EFAULT;
	if (ev.flags || ev.pad)
		return -EINVAL;
	if (!PAGE_ALIGNED(ev.offset) || !PAGE_ALIGNED(ev.length) || ev.offset > dev->size)
		return -EINVAL;
	if (ev.length > dev->size - ev.offset)
		return -EINVAL;
	start = ev.offset;
	end = ev.length ? ev.offset + ev.length : dev->size;

	/*
	 * Widen to whole 1 GiB physical blocks: a huge entry maps such an
	 * aligned block (or a 2 MiB part of one), so the zap then covers every
	 * huge entry it touches completely.  Zapping part of a huge PUD would
	 * make the core split it, which it expects to do under mmap_lock.
	 */
	pstart = round_down(dev->phys + start, blk);
	pend = round_up(dev->phys + end, blk);
	start = pstart > dev->phys ? pstart - dev->phys : 0;
	end = min_t(u64, pend - dev->phys, dev->size);

	unmap_mapping_range(file->f_mapping, start, end - start, 1);
	fv_inc(&f->c.zaps);

	ev.offset = start;
	ev.length = end - start;
	return copy_to_user(arg, &ev, sizeof(ev)) ? -EFAULT : 0;
}

#define FV_ACCESS_CHUNK	(1UL << 20)

static long fv_ioc_access(struct fv_file *f, void __user *arg)
{
	struct fv_device *dev = f->dev;
	struct fakevram_access a;
	u64 done = 0;

	if (copy_from_user(&a, arg, sizeof(a)))
		return -EFAULT;
	if ((a.flags & ~FAKEVRAM_ACCESS_FLAGS) || a.pad)
		return -EINVAL;
	if (a.offset > dev->size || a.length > dev->size - a.offset)
		return -EINVAL;

	/*
	 * The kernel mapping is never unmapped while a file is open, and the
	 * copy may fault on the user buffer (even on a mapping of this very
	 * device, which is fine: we hold no lock here).
	 */
	while (done < a.length) {
		size_t n = min_t(u64, a.length - done, FV_ACCESS_CHUNK);
		void *k = dev->kaddr + a.offset + done;
		void __user *u = u64_to_user_ptr(a.user_ptr + done);
		unsigned long left;

		if (a.flags & FAKEVRAM_ACCESS_WRITE)
			left = copy_from_user(k, u, n);
		else
			left = copy_to_user(u, k, n);
		if (left)
			return -EFAULT;
		done += n;
		if (done < a.length) {
			if (fatal_signal_pending(current))
				return -EINTR;
			cond_resched();
		}
	}
	return 0;
}

static long fv_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	struct fv_file *f = file->private_data;
	void __user *uarg = (void __user *)arg;

	switch (cmd) {
	case FAKEVRAM_IOC_INFO:
		return fv_ioc_info(f, uarg);
	case FAKEVRAM_IOC_SET_POLICY:
		return fv_ioc_set_policy(f, uarg);
	case FAKEVRAM_IOC_GET_POLICY:
		return fv_ioc_get_policy(f, uarg);
	case FAKEVRAM_IOC_COUNTERS:
		return fv_ioc_counters(f, uarg);
	case FAKEVRAM_IOC_EVICT:
		return fv_ioc_evict(f, file, uarg);
	case FAKEVRAM_IOC_ACCESS:
		return fv_ioc_access(f, uarg);
	default:
		return -ENOTTY;
	}
}

static const struct file_operations fv_fops = {
	.owner = THIS_MODULE,
	.open = fv_open,
	.release = fv_release,
	.mmap = fv_mmap,
	.get_unmapped_area = fv_get_unmapped_area,
	.unlocked_ioctl = fv_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.llseek = noop_llseek,
};

static int fv_parse_u64(const char *s, const char *name, u64 *out)
{
	char *end;

	if (!s || !*s) {
		pr_err("%s= is required\n", name);
		return -EINVAL;
	}
	*out = memparse(s, &end);
	if (*end && *end != '\n') {
		pr_err("%s=%s: not a number (with optional K/M/G suffix)\n", name, s);
		return -EINVAL;
	}
	return 0;
}

static int fv_setup_iomem(struct fv_device *dev, u64 phys, u64 sz)
{
	if (phys + sz < phys || phys + sz - 1 > (u64)PHYS_ADDR_MAX) {
		pr_err("base+size overflows\n");
		return -EINVAL;
	}
	/* Never map memory the kernel manages. */
	if (region_intersects(phys, sz, IORESOURCE_SYSTEM_RAM, IORES_DESC_NONE) !=
	    REGION_DISJOINT) {
		pr_err("[%pa + %llu) intersects System RAM; reserve it with memmap=%llu$%pa\n",
		       &phys, sz, sz, &phys);
		return -EINVAL;
	}
	dev->res = request_mem_region(phys, sz, "fakevram");
	if (!dev->res) {
		pr_err("[%pa + %llu) is busy\n", &phys, sz);
		return -EBUSY;
	}
	/*
	 * Write-back: the range is RAM underneath (reserved by memmap=), and
	 * the kernel and user mappings then agree (the PAT memtype reserved
	 * here is what vmf_insert_pfn*() applies to user entries).
	 */
	dev->kaddr = memremap(phys, sz, MEMREMAP_WB);
	if (!dev->kaddr) {
		release_mem_region(phys, sz);
		dev->res = NULL;
		pr_err("memremap of [%pa + %llu) failed\n", &phys, sz);
		return -ENOMEM;
	}
	dev->phys = phys;
	return 0;
}

#ifdef CONFIG_CONTIG_ALLOC
/* Like the core's pfn_range_valid_contig(): all online, one zone, not reserved. */
static bool fv_range_usable(struct zone *z, unsigned long start, unsigned long n)
{
	unsigned long i;

	for (i = start; i < start + n; i++) {
		struct page *page = pfn_to_online_page(i);

		if (!page || page_zone(page) != z || PageReserved(page))
			return false;
		if ((i & 4095) == 0)
			cond_resched();
	}
	return true;
}

static int fv_setup_pages(struct fv_device *dev, u64 sz)
{
	unsigned long n = sz >> PAGE_SHIFT;
	unsigned long align = min_t(u64, roundup_pow_of_two(sz), PUD_SIZE) >> PAGE_SHIFT;
	int nid, zi;

	align = max_t(unsigned long, align, pageblock_nr_pages);
	for_each_online_node(nid) {
		pg_data_t *pgdat = NODE_DATA(nid);

		for (zi = MAX_NR_ZONES - 1; zi >= 0; zi--) {
			struct zone *z = &pgdat->node_zones[zi];
			unsigned long pfn, zend;

			if (!populated_zone(z))
				continue;
			zend = zone_end_pfn(z);
			for (pfn = ALIGN(z->zone_start_pfn, align);
			     pfn + n <= zend && pfn + n > pfn; pfn += align) {
				if (!fv_range_usable(z, pfn, n))
					continue;
				if (alloc_contig_range(pfn, pfn + n, MIGRATE_MOVABLE,
						       GFP_KERNEL | __GFP_NOWARN))
					continue;
				dev->pfn = pfn;
				dev->phys = PFN_PHYS(pfn);
				dev->kaddr = page_address(pfn_to_page(pfn));
				return 0;
			}
		}
	}
	pr_err("no %llu contiguous bytes aligned to %lu pages available\n", sz, align);
	return -ENOMEM;
}
#else
static int fv_setup_pages(struct fv_device *dev, u64 sz)
{
	pr_err("kind=pages needs CONFIG_CONTIG_ALLOC\n");
	return -EOPNOTSUPP;
}
#endif

static void fv_teardown(struct fv_device *dev)
{
	if (dev->kind == FAKEVRAM_KIND_IOMEM) {
		memunmap(dev->kaddr);
		release_mem_region(dev->phys, dev->size);
	} else {
#ifdef CONFIG_CONTIG_ALLOC
		free_contig_range(dev->pfn, dev->npages);
#endif
	}
}

/*
 * Zero the memory before anyone can map it, so that user space never sees
 * what was there before (another user's data, in a reused range or pages).
 * A page that already reads as zero is not written: in a guest whose RAM the
 * host backs only when it is first written (QEMU restoring a saved state from
 * a file, say), writing zeros over a GiB that was never written makes the
 * host allocate and copy every page of it; reading it first costs a
 * fraction of that, and the pages that are not zero are cleared all the same.
 */
static void fv_clear(void *kaddr, u64 size)
{
	u64 off;

	for (off = 0; off < size; off += PAGE_SIZE) {
		if (memchr_inv(kaddr + off, 0, PAGE_SIZE))
			memset(kaddr + off, 0, PAGE_SIZE);
		if (!(off & (SZ_2M - 1)))
			cond_resched();
	}
}

static int __init fv_init(void)
{
	struct fv_device *dev = &fv_dev;
	u64 sz, phys = 0;
	int ret;

	ret = fv_parse_u64(size, "size", &sz);
	if (ret)
		return ret;
	if (!sz || !PAGE_ALIGNED(sz)) {
		pr_err("size=%s must be a non-zero multiple of %lu\n", size, PAGE_SIZE);
		return -EINVAL;
	}

	if (!strcmp(kind, "iomem")) {
		ret = fv_parse_u64(base, "base", &phys);
		if (ret)
			return ret;
		if (!PAGE_ALIGNED(phys)) {
			pr_err("base=%s must be page aligned\n", base);
			return -EINVAL;
		}
		dev->kind = FAKEVRAM_KIND_IOMEM;
		ret = fv_setup_iomem(dev, phys, sz);
	} else if (!strcmp(kind, "pages")) {
		dev->kind = FAKEVRAM_KIND_PAGES;
		ret = fv_setup_pages(dev, sz);
	} else {
		pr_err("kind=%s: expected iomem or pages\n", kind);
		return -EINVAL;
	}
	if (ret)
		return ret;

	dev->size = sz;
	dev->npages = sz >> PAGE_SHIFT;
	dev->pfn = PHYS_PFN(dev->phys);
	fv_clear(dev->kaddr, sz);

	dev->misc.minor = MISC_DYNAMIC_MINOR;
	dev->misc.name = "fakevram0";
	dev->misc.fops = &fv_fops;
	dev->misc.mode = 0600;
	ret = misc_register(&dev->misc);
	if (ret) {
		fv_teardown(dev);
		return ret;
	}
	pr_info("%s: %llu bytes at %pa, huge entries: pmd %s, pud %s\n",
		dev->kind == FAKEVRAM_KIND_IOMEM ? "iomem" : "pages", sz, &dev->phys,
		FV_HUGE_PMD ? "yes" : "no", FV_HUGE_PUD ? "yes" : "no");
	return 0;
}

static void __exit fv_exit(void)
{
	misc_deregister(&fv_dev.misc);
	fv_teardown(&fv_dev);
}

module_init(fv_init);
module_exit(fv_exit);

MODULE_DESCRIPTION("fakevram: device memory mapped with PTE, PMD and PUD entries, for testing");
MODULE_LICENSE("GPL");
