// SPDX-License-Identifier: GPL-2.0
/*
 * A device write, through test_hmm's mirror, of its own device-private
 * pages after fork() made them copy-on-write.
 *
 * HMM_DMIRROR_MIGRATE_TO_DEV moves the pages into the device's private
 * memory; fork() turns the parent's writable device-private entries into
 * read-only ones (and invalidates the mirror).  HMM_DMIRROR_WRITE then asks
 * hmm_range_fault() for the range with HMM_PFN_REQ_WRITE.  For device-private
 * pages of the caller's own pgmap owner, hmm_range_fault() reports the pfn
 * as it is and faults nothing, so they come back without HMM_PFN_WRITE, and
 * dmirror_do_fault() meets its WARN_ON(range->default_flags &
 * HMM_PFN_WRITE): a WARN any user of the device can trigger.
 *
 * Prints what each step saw and what the device write returned.
 *
 *   devprivate_cow_write [DEVICE]   (default /dev/hmm_dmirror0)
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

/* lib/test_hmm_uapi.h (the ABI of the module; the header is not installed) */
struct hmm_dmirror_cmd {
	uint64_t addr;
	uint64_t ptr;
	uint64_t npages;
	uint64_t cpages;
	uint64_t faults;
};

#define HMM_DMIRROR_WRITE		_IOWR('H', 0x01, struct hmm_dmirror_cmd)
#define HMM_DMIRROR_MIGRATE_TO_DEV	_IOWR('H', 0x02, struct hmm_dmirror_cmd)

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
	size_t page = sysconf(_SC_PAGESIZE), len = NPAGES * page;
	struct hmm_dmirror_cmd cmd;
	unsigned char *buf, *in;
	int fd, ret, status;
	pid_t child;

	fd = open(path, O_RDWR);
	if (fd < 0) {
		printf("not ok 1 open %s: %s\n", path, strerror(errno));
		return 1;
	}
	buf = mmap(NULL, len, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	in = malloc(len);
	if (buf == MAP_FAILED || !in) {
		printf("not ok 1 memory: %s\n", strerror(errno));
		return 1;
	}
	memset(buf, 0x11, len);
	memset(in, 0x22, len);

	ret = dmirror(fd, HMM_DMIRROR_MIGRATE_TO_DEV, buf, in, &cmd);
	printf("# migrate to device: %d, %llu of %d pages\n", ret,
	       (unsigned long long)cmd.cpages, NPAGES);
	if (ret || cmd.cpages != NPAGES) {
		printf("not ok 1 migrate to device\n");
		return 1;
	}

	/* copy-on-write: the parent's device-private entries become read-only */
	child = fork();
	if (child < 0) {
		printf("not ok 1 fork: %s\n", strerror(errno));
		return 1;
	}
	if (!child)
		_exit(0);
	waitpid(child, &status, 0);
	printf("# fork done, child exited; device write of the range\n");
	fflush(stdout);

	memset(in, 0x22, len);
	ret = dmirror(fd, HMM_DMIRROR_WRITE, buf, in, &cmd);
	printf("# device write: %d (%s), %llu pages, %llu faults\n", ret,
	       ret ? strerror(-ret) : "done", (unsigned long long)cmd.cpages,
	       (unsigned long long)cmd.faults);
	printf("# CPU reads 0x%02x\n", buf[0]);
	printf("%s 1 device write after fork\n",
	       !ret && cmd.cpages == NPAGES && buf[0] == 0x22 ? "ok" : "not ok");
	return 0;
}
