// SPDX-License-Identifier: GPL-2.0
/*
 * A device read, through test_hmm's mirror, of pages that are on the same
 * device (device-private) after the mirror was invalidated.
 *
 * HMM_DMIRROR_MIGRATE_TO_DEV moves the pages into the device's private
 * memory and maps their backing pages in the mirror (BACKING_PAGE() in
 * dmirror_migrate_finalize_and_map()).  An mprotect() invalidates the mirror
 * but leaves the pages on the device.  HMM_DMIRROR_READ then faults them in
 * with hmm_range_fault(), which hands the owner its own device-private
 * pages, and dmirror_do_fault() stores that struct page as it is: without
 * BACKING_PAGE().  dmirror_do_read() copies from it with memcpy_from_page():
 * a device-private page has no kernel mapping.
 *
 * Prints what each step saw, then "ok" when the device read the bytes the
 * CPU wrote; a kernel with the bug oopses in dmirror_do_read() and this
 * process dies there.
 *
 *   devprivate_reread [DEVICE]   (default /dev/hmm_dmirror0)
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

/* lib/test_hmm_uapi.h (the ABI of the module; the header is not installed) */
struct hmm_dmirror_cmd {
	uint64_t addr;
	uint64_t ptr;
	uint64_t npages;
	uint64_t cpages;
	uint64_t faults;
};

#define HMM_DMIRROR_READ		_IOWR('H', 0x00, struct hmm_dmirror_cmd)
#define HMM_DMIRROR_MIGRATE_TO_DEV	_IOWR('H', 0x02, struct hmm_dmirror_cmd)
#define HMM_DMIRROR_SNAPSHOT		_IOWR('H', 0x04, struct hmm_dmirror_cmd)
#define HMM_DMIRROR_PROT_DEV_PRIVATE_LOCAL	0x20

#define NPAGES 16

static int dmirror(int fd, unsigned long req, void *addr, void *ptr,
		   struct hmm_dmirror_cmd *cmd)
{
	memset(cmd, 0, sizeof(*cmd));
	cmd->addr = (uintptr_t)addr;
	cmd->ptr = (uintptr_t)ptr;
	cmd->npages = NPAGES;
	return ioctl(fd, req, cmd) ? -errno : 0;
}

int main(int argc, char **argv)
{
	const char *path = argc > 1 ? argv[1] : "/dev/hmm_dmirror0";
	size_t page = sysconf(_SC_PAGESIZE), len = NPAGES * page, i;
	struct hmm_dmirror_cmd cmd;
	unsigned char *buf, *out, snap[NPAGES];
	unsigned int on_device = 0, bad = 0;
	int fd, ret;

	fd = open(path, O_RDWR);
	if (fd < 0) {
		printf("not ok 1 open %s: %s\n", path, strerror(errno));
		return 1;
	}
	buf = mmap(NULL, len, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	out = malloc(len);
	if (buf == MAP_FAILED || !out) {
		printf("not ok 1 memory: %s\n", strerror(errno));
		return 1;
	}
	for (i = 0; i < len; i++)
		buf[i] = (unsigned char)(i * 7 + i / page);

	ret = dmirror(fd, HMM_DMIRROR_MIGRATE_TO_DEV, buf, out, &cmd);
	printf("# migrate to device: %d, %llu of %d pages\n", ret,
	       (unsigned long long)cmd.cpages, NPAGES);
	if (ret || cmd.cpages != NPAGES) {
		printf("not ok 1 migrate to device\n");
		return 1;
	}
	ret = dmirror(fd, HMM_DMIRROR_SNAPSHOT, buf, snap, &cmd);
	for (i = 0; i < NPAGES; i++)
		on_device += (snap[i] & 0xf0) == HMM_DMIRROR_PROT_DEV_PRIVATE_LOCAL;
	printf("# snapshot: %d, %u of %d pages device-private on this device\n",
	       ret, on_device, NPAGES);
	if (ret || on_device != NPAGES) {
		printf("not ok 1 pages on the device\n");
		return 1;
	}

	/* invalidates the mirror (PROTECTION_VMA); the pages stay on the device */
	if (mprotect(buf, len, PROT_READ)) {
		printf("not ok 1 mprotect: %s\n", strerror(errno));
		return 1;
	}
	printf("# mprotect(PROT_READ) done; device read of the range\n");
	fflush(stdout);

	memset(out, 0, len);
	ret = dmirror(fd, HMM_DMIRROR_READ, buf, out, &cmd);
	for (i = 0; i < len; i++)
		bad += out[i] != (unsigned char)(i * 7 + i / page);
	printf("# device read: %d, %llu pages, %llu faults, %u bytes wrong\n",
	       ret, (unsigned long long)cmd.cpages,
	       (unsigned long long)cmd.faults, bad);
	for (i = 0; i < len; i++)
		bad += buf[i] != (unsigned char)(i * 7 + i / page);
	printf("%s 1 device read after invalidation\n",
	       !ret && cmd.cpages == NPAGES && !bad ? "ok" : "not ok");
	return !ret && !bad ? 0 : 1;
}
