/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * fakevram: a device-memory test driver (/dev/fakevram0).
 *
 * The device owns one physically contiguous range of "device memory" fixed
 * at load time, either a physical range the kernel does not manage (kind
 * IOMEM, reserved with memmap=) or contiguous system pages (kind PAGES).
 * mmap() of the device maps that memory VM_IO | VM_PFNMAP, shared only;
 * the file offset is the byte offset into the device memory.  Entries are
 * inserted at fault time with 4 KiB, 2 MiB (PMD) or 1 GiB (PUD) page-table
 * entries according to a per-open policy.
 *
 * Every struct has a fixed size, explicit padding and 64-bit sizes; every
 * flags, padding and reserved field must be zero on input, and unknown
 * flag bits are rejected with EINVAL.
 */
#ifndef _UAPI_LINUX_FAKEVRAM_H
#define _UAPI_LINUX_FAKEVRAM_H

#include <linux/ioctl.h>
#include <linux/types.h>

/* fakevram_info.kind */
#define FAKEVRAM_KIND_IOMEM		1	/* reserved physical range, no struct pages used */
#define FAKEVRAM_KIND_PAGES		2	/* contiguous system pages */

/* Page-table entry sizes: the index into every per-size counter array. */
#define FAKEVRAM_ENTRY_PTE		0	/* PAGE_SIZE */
#define FAKEVRAM_ENTRY_PMD		1	/* PMD_SIZE, 2 MiB on x86-64 */
#define FAKEVRAM_ENTRY_PUD		2	/* PUD_SIZE, 1 GiB on x86-64 */
#define FAKEVRAM_NR_ENTRY_SIZES		3

/*
 * fakevram_info.caps: which huge entries this module, as built for the
 * running kernel, can insert.  Set only where the kernel has special huge
 * pfnmaps (CONFIG_ARCH_SUPPORTS_PMD_PFNMAP / _PUD_PFNMAP, 6.12 and later),
 * which fast GUP recognises and refuses.  Without them ->huge_fault always
 * falls back (and the kernel does not even call it for VM_PFNMAP VMAs).
 */
#define FAKEVRAM_CAP_PMD		(1u << 0)
#define FAKEVRAM_CAP_PUD		(1u << 1)

struct fakevram_info {
	__u64 size;		/* bytes of device memory */
	__u64 phys_base;	/* physical address of its first byte */
	__u32 kind;		/* FAKEVRAM_KIND_* */
	__u32 caps;		/* FAKEVRAM_CAP_* */
	__u32 page_shift;	/* log2 of each entry size, FAKEVRAM_ENTRY_* order */
	__u32 pmd_shift;
	__u32 pud_shift;
	__u32 kernel_version;	/* LINUX_VERSION_CODE the module was built for */
	__u64 reserved[4];	/* zero */
};

/*
 * Insertion policy of one open file, used by faults on every mapping made
 * through it (also after fork: the policy belongs to the open file).
 * max_entry: largest entry the fault handlers insert (FAKEVRAM_ENTRY_*).
 * FAKEVRAM_POLICY_PREFAULT: the fault that inserts an entry also fills
 *	every other empty slot of the faulting VMA, each with the largest
 *	entry up to max_entry that fits (alignment, VMA bounds, page tables
 *	present), the "driver says how big" way of filling a mapping.
 * FAKEVRAM_POLICY_NO_ALIGN: get_unmapped_area does not align the address
 *	to the largest entry size, so huge entries only happen by luck.
 */
#define FAKEVRAM_POLICY_PREFAULT	(1u << 0)
#define FAKEVRAM_POLICY_NO_ALIGN	(1u << 1)
#define FAKEVRAM_POLICY_FLAGS		(FAKEVRAM_POLICY_PREFAULT | FAKEVRAM_POLICY_NO_ALIGN)

struct fakevram_policy {
	__u32 max_entry;	/* FAKEVRAM_ENTRY_* */
	__u32 flags;		/* FAKEVRAM_POLICY_* */
	__u64 reserved[3];	/* zero */
};

/* fakevram_counters.flags (in) */
#define FAKEVRAM_COUNTERS_RESET		(1u << 0)	/* zero each counter as it is read */
#define FAKEVRAM_COUNTERS_FLAGS		(FAKEVRAM_COUNTERS_RESET)

/* Counters of one open file (shared by the mappings made through it). */
struct fakevram_counters {
	__u32 flags;		/* in: FAKEVRAM_COUNTERS_* */
	__u32 pad;		/* zero */
	/* faults that inserted the faulting entry, by its size */
	__u64 faults[FAKEVRAM_NR_ENTRY_SIZES];
	/* ->huge_fault calls by the size the core asked for ([PTE] unused) */
	__u64 huge_fault_calls[FAKEVRAM_NR_ENTRY_SIZES];
	/* VM_FAULT_FALLBACK returned, by the size asked for */
	__u64 fallbacks[FAKEVRAM_NR_ENTRY_SIZES];
	/* other entries inserted by FAKEVRAM_POLICY_PREFAULT, by size */
	__u64 prefault_entries[FAKEVRAM_NR_ENTRY_SIZES];
	__u64 prefault_skipped;	/* slots left to later faults (tables missing, occupied) */
	__u64 sigbus;		/* faults refused: offset outside the device memory */
	__u64 zaps;		/* FAKEVRAM_IOC_EVICT calls */
	__u64 mmaps;		/* successful mmap() calls */
	__u64 vma_opens;	/* vm_ops->open: VMA copied by fork or split */
	__u64 vma_closes;	/* vm_ops->close */
	__u64 split_zaps;	/* huge PUD entries zapped before a VMA split (see fakevram.c) */
	__u64 reserved[3];
};

/*
 * Zap every user mapping (all processes, all opens) of the device memory
 * range [offset, offset + length); length 0 means to the end.  Both must be
 * page aligned.  The range is widened to whole 1 GiB physical blocks so that
 * no huge entry is ever split by it; the range zapped is written back.
 */
struct fakevram_evict {
	__u64 offset;		/* in/out */
	__u64 length;		/* in/out */
	__u32 flags;		/* zero */
	__u32 pad;		/* zero */
};

/*
 * Copy between the device memory and a user buffer from the driver side
 * (through the kernel's own mapping of it), to check what user mappings
 * wrote or to place data for them to read.
 */
#define FAKEVRAM_ACCESS_WRITE		(1u << 0)	/* user buffer -> device; else device -> user */
#define FAKEVRAM_ACCESS_FLAGS		(FAKEVRAM_ACCESS_WRITE)

struct fakevram_access {
	__u64 offset;		/* byte offset into the device memory */
	__u64 length;		/* bytes, offset + length <= size */
	__u64 user_ptr;		/* user buffer */
	__u32 flags;		/* FAKEVRAM_ACCESS_* */
	__u32 pad;		/* zero */
};

#define FAKEVRAM_IOC_MAGIC		0xB7

#define FAKEVRAM_IOC_INFO	_IOR(FAKEVRAM_IOC_MAGIC, 0x00, struct fakevram_info)
#define FAKEVRAM_IOC_SET_POLICY	_IOW(FAKEVRAM_IOC_MAGIC, 0x01, struct fakevram_policy)
#define FAKEVRAM_IOC_GET_POLICY	_IOR(FAKEVRAM_IOC_MAGIC, 0x02, struct fakevram_policy)
#define FAKEVRAM_IOC_COUNTERS	_IOWR(FAKEVRAM_IOC_MAGIC, 0x03, struct fakevram_counters)
#define FAKEVRAM_IOC_EVICT	_IOWR(FAKEVRAM_IOC_MAGIC, 0x04, struct fakevram_evict)
#define FAKEVRAM_IOC_ACCESS	_IOW(FAKEVRAM_IOC_MAGIC, 0x05, struct fakevram_access)

#endif /* _UAPI_LINUX_FAKEVRAM_H */
