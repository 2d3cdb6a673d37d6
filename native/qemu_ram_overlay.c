// SPDX-License-Identifier: MIT
/*
 * Preloaded (LD_PRELOAD) into a QEMU that restores a saved guest state
 * (src/vm/snapshot.ts). Not part of the addon: src/vm/ram-overlay.ts builds
 * it on first use.
 *
 * A restored guest's RAM is a private mapping of the saved RAM file, so
 * every guest page written after the restore is a 4 KiB copy-on-write fault
 * in QEMU, even where the file is a hole (RAM the guest had never written
 * before the save: 90% of it after a boot). A test that fills a GiB took
 * about 10 s of host CPU more than in a cold-booted guest, whose RAM is
 * anonymous memory the host backs with transparent huge pages.
 *
 * This library lets QEMU map the file as it asked, then maps anonymous
 * memory over every 2 MiB-aligned stretch of that mapping that lies in a hole
 * of the file. Both read as zeros and both are private to this QEMU, so the
 * guest sees the same bytes; only the host's backing differs. The RAM files
 * it applies to are named in $MIRRORLAB_RAM_OVERLAY_FILES (paths separated by
 * colons). Anything it cannot do leaves QEMU's own mapping in place.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define HUGE_SIZE (2UL << 20)
#define MAX_FILES 8

static struct { dev_t dev; ino_t ino; } files[MAX_FILES];
static int nfiles;

__attribute__((constructor)) static void read_files(void)
{
	const char *env = getenv("MIRRORLAB_RAM_OVERLAY_FILES");
	char *list, *path, *save = NULL;
	struct stat st;

	if (!env || !*env)
		return;
	list = strdup(env);
	if (!list)
		return;
	for (path = strtok_r(list, ":", &save); path && nfiles < MAX_FILES; path = strtok_r(NULL, ":", &save)) {
		if (stat(path, &st) == 0) {
			files[nfiles].dev = st.st_dev;
			files[nfiles].ino = st.st_ino;
			nfiles++;
		}
	}
	free(list);
}

static int is_ram_file(int fd)
{
	struct stat st;
	int i;

	if (fd < 0 || !nfiles || fstat(fd, &st) != 0)
		return 0;
	for (i = 0; i < nfiles; i++)
		if (files[i].dev == st.st_dev && files[i].ino == st.st_ino)
			return 1;
	return 0;
}

/* The system call itself (glibc's wrapper sets errno): this file defines mmap. */
static void *raw_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	return (void *)syscall(SYS_mmap, addr, len, prot, flags, fd, off);
}

/*
 * The holes of [off, off + len) of the file, as host addresses (base maps
 * file offset off), each shrunk to 2 MiB alignment, become anonymous memory.
 * SEEK_HOLE finds where a hole starts, SEEK_DATA where it ends; a file
 * system that reports no holes leaves the mapping as it was.
 */
static void overlay_holes(char *base, size_t len, int prot, int flags, int fd, off_t off)
{
	int anon_flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | (flags & MAP_NORESERVE);
	off_t end = off + (off_t)len, pos = off;
	int saved_errno = errno;

	while (pos < end) {
		off_t hole = lseek(fd, pos, SEEK_HOLE), data;
		uintptr_t from, to;

		if (hole < 0 || hole >= end)
			break;
		data = lseek(fd, hole, SEEK_DATA);
		if (data < 0 || data > end)
			data = end; /* ENXIO: a hole up to the end of the file */
		from = ((uintptr_t)base + (hole - off) + HUGE_SIZE - 1) & ~(HUGE_SIZE - 1);
		to = ((uintptr_t)base + (data - off)) & ~(HUGE_SIZE - 1);
		if (to > from && raw_mmap((void *)from, to - from, prot, anon_flags, -1, 0) != MAP_FAILED)
			madvise((void *)from, to - from, MADV_HUGEPAGE);
		pos = data;
	}
	errno = saved_errno;
}

void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	void *p = raw_mmap(addr, len, prot, flags, fd, off);

	if (p != MAP_FAILED && (flags & MAP_TYPE) == MAP_PRIVATE && (prot & PROT_WRITE) && is_ram_file(fd))
		overlay_holes(p, len, prot, flags, fd, off);
	return p;
}

void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off_t off)
	__attribute__((alias("mmap")));
