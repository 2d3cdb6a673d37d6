// SPDX-License-Identifier: GPL-2.0-only
/*
 * mirrordrm_test: a standalone KTAP test of the mirrordrm driver, for a
 * kernel developer who wants the driver's behaviour without Node.js.
 *
 *   gcc -static -O2 -I../../include -o mirrordrm_test mirrordrm_test.c
 *   ./mirrordrm_test [/dev/dri/renderD128]
 *
 * Each case runs in every userptr mode and prints what the device saw.
 * Output is KTAP: one result per case, named by a stable id in the grammar
 * of the TypeScript guest suite (test/guest/cases.ts), the same id where
 * test/guest/mirrordrm.test.ts has the same case (docs/case-ids.md); the
 * checks a case makes are diagnostic lines before its result, "# FAIL ..."
 * for one that failed.
 */
#define _GNU_SOURCE
#include <sched.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdatomic.h>
#include <time.h>

#include "uapi/mirrordrm.h"

#define PAGE 4096ul
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* A case: its KTAP id, the function that runs it, and its parameters. */
struct mdrm_case {
	const char *id;
	void (*run)(unsigned int mode, unsigned int arg);
	unsigned int mode;
	unsigned int arg;
};

static const struct mdrm_case *cur;	/* the case running */
static int cur_checks, cur_failed;
static char cur_skip[160];
static int fd;
static unsigned char scratch[16 * PAGE];

static const char *mode_name(unsigned int mode)
{
	switch (mode) {
	case MIRRORDRM_USERPTR_MODE_GUP: return "gup";
	case MIRRORDRM_USERPTR_MODE_GUP_LONGTERM: return "gup-longterm";
	case MIRRORDRM_USERPTR_MODE_GUP_GET: return "gup-get";
	case MIRRORDRM_USERPTR_MODE_HMM: return "hmm";
	}
	return "?";
}

static const char *event_name(unsigned int ev)
{
	static const char *const names[] = {
		"UNMAP", "CLEAR", "PROTECTION_VMA", "PROTECTION_PAGE",
		"SOFT_DIRTY", "RELEASE", "MIGRATE", "EXCLUSIVE",
	};
	return ev < 8 ? names[ev] : "UNKNOWN";
}

/* One check of the running case, printed as a diagnostic line; any failure fails the case. */
static void check(int ok, const char *fmt, ...)
{
	va_list ap;

	printf("# %s%s: ", ok ? "" : "FAIL ", cur->id);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	cur_checks++;
	if (!ok)
		cur_failed = 1;
}

/* The running case cannot run here: it is reported as skipped, with why. */
static void skip(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cur_skip, sizeof(cur_skip), fmt, ap);
	va_end(ap);
}

static int open_render(const char *path)
{
	char buf[300];
	DIR *d;
	struct dirent *e;

	if (path)
		return open(path, O_RDWR | O_CLOEXEC);
	d = opendir("/dev/dri");
	if (!d)
		return -1;
	while ((e = readdir(d))) {
		char name[64] = "";
		struct {
			int maj, min, patch;
			size_t name_len; char *name;
			size_t date_len; char *date;
			size_t desc_len; char *desc;
		} v = { .name_len = sizeof(name) - 1, .name = name };
		int f;

		if (strncmp(e->d_name, "renderD", 7))
			continue;
		snprintf(buf, sizeof(buf), "/dev/dri/%s", e->d_name);
		f = open(buf, O_RDWR | O_CLOEXEC);
		if (f < 0)
			continue;
		if (!ioctl(f, _IOWR('d', 0x00, v), &v) && !strcmp(name, "mirrordrm")) {
			closedir(d);
			return f;
		}
		close(f);
	}
	closedir(d);
	return -1;
}

static int userptr(void *addr, size_t size, unsigned int flags, unsigned int *handle)
{
	struct drm_mirrordrm_userptr a = {
		.address = (uintptr_t)addr, .size = size, .flags = flags,
	};

	if (ioctl(fd, DRM_IOCTL_MIRRORDRM_USERPTR, &a))
		return -errno;
	*handle = a.handle;
	return 0;
}

static int dev_access(unsigned int handle, uint64_t off, void *buf, size_t len,
		      unsigned int flags)
{
	struct drm_mirrordrm_access a = {
		.handle = handle, .flags = flags, .offset = off, .length = len,
		.data = (uintptr_t)buf,
	};

	return ioctl(fd, DRM_IOCTL_MIRRORDRM_ACCESS, &a) ? -errno : 0;
}

static void gem_close(unsigned int handle)
{
	struct { uint32_t handle, pad; } c = { handle, 0 };

	ioctl(fd, _IOW('d', 0x09, c), &c);
}

static int drain(struct drm_mirrordrm_inval_record *recs, unsigned int max, uint64_t *lost)
{
	struct drm_mirrordrm_inval_read r = {
		.records = (uintptr_t)recs, .count = max,
	};

	if (ioctl(fd, DRM_IOCTL_MIRRORDRM_INVAL_READ, &r))
		return -errno;
	if (lost)
		*lost = r.lost;
	return r.count;
}

static void show(const struct drm_mirrordrm_inval_record *r, uintptr_t base)
{
	printf("#   seq %llu %s [%+lld, %+lld) handle %u blockable %d dropped %llu downgraded %llu flags 0x%x %llu ns\n",
	       (unsigned long long)r->seq, event_name(r->event),
	       (long long)(r->start - base), (long long)(r->end - base), r->handle,
	       !!(r->flags & MIRRORDRM_RECORD_BLOCKABLE),
	       (unsigned long long)r->pages_dropped,
	       (unsigned long long)r->pages_downgraded, r->flags,
	       (unsigned long long)r->duration_ns);
}

static void *map_pages(size_t n, unsigned char fill)
{
	void *p = mmap(NULL, n * PAGE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	memset(p, fill, n * PAGE);
	return p;
}

static const unsigned int modes[] = {
	MIRRORDRM_USERPTR_MODE_GUP, MIRRORDRM_USERPTR_MODE_GUP_LONGTERM,
	MIRRORDRM_USERPTR_MODE_GUP_GET, MIRRORDRM_USERPTR_MODE_HMM,
};

static void test_read_write(unsigned int mode, unsigned int arg)
{
	unsigned char *p = map_pages(8, 0), buf[3 * PAGE];
	unsigned int h = 0;
	size_t i;
	int ret, ok;

	for (i = 0; i < 8 * PAGE; i++)
		p[i] = (unsigned char)(i * 7 + 3);
	ret = userptr(p, 8 * PAGE, mode, &h);
	if (ret) {
		check(0, "%s: create: %s", mode_name(mode), strerror(-ret));
		return;
	}
	ret = dev_access(h, PAGE + 100, buf, sizeof(buf), MIRRORDRM_ACCESS_READ);
	ok = !ret && !memcmp(buf, p + PAGE + 100, sizeof(buf));
	check(ok, "%s: device read across pages returns the buffer's bytes", mode_name(mode));
	memset(buf, 0xa5, sizeof(buf));
	ret = dev_access(h, 5 * PAGE - 1, buf, 2, MIRRORDRM_ACCESS_WRITE);
	ok = !ret && p[5 * PAGE - 1] == 0xa5 && p[5 * PAGE] == 0xa5 &&
	     p[5 * PAGE + 1] == (unsigned char)((5 * PAGE + 1) * 7 + 3);
	check(ok, "%s: device write lands in the CPU mapping", mode_name(mode));
	gem_close(h);
	munmap(p, 8 * PAGE);
	drain((void *)buf, sizeof(buf) / sizeof(struct drm_mirrordrm_inval_record), NULL);
}

static void test_munmap(unsigned int mode, unsigned int arg)
{
	struct drm_mirrordrm_inval_record recs[16];
	unsigned char *p = map_pages(4, 1), b;
	unsigned int h = 0;
	int n, ret;

	drain(recs, 16, NULL);
	if (userptr(p, 4 * PAGE, mode, &h)) {
		check(0, "%s: create", mode_name(mode));
		return;
	}
	munmap(p + PAGE, PAGE);
	n = drain(recs, 16, NULL);
	check(n == 1 && recs[0].event == MIRRORDRM_EVENT_UNMAP &&
	      recs[0].start == (uintptr_t)p + PAGE && recs[0].end == (uintptr_t)p + 2 * PAGE &&
	      (recs[0].flags & MIRRORDRM_RECORD_BLOCKABLE) && recs[0].handle == h,
	      "%s: munmap of one page gives one blockable UNMAP record of exactly that page",
	      mode_name(mode));
	if (n > 0)
		show(&recs[0], (uintptr_t)p);
	ret = dev_access(h, PAGE, &b, 1, MIRRORDRM_ACCESS_READ);
	printf("#   %s: device read of the unmapped page: %s (byte %u)\n",
	       mode_name(mode), ret ? strerror(-ret) : "ok", ret ? 0 : b);
	check(mode == MIRRORDRM_USERPTR_MODE_HMM ? ret == -EFAULT : (!ret && b == 1),
	      "%s: after munmap the device %s", mode_name(mode),
	      mode == MIRRORDRM_USERPTR_MODE_HMM ? "faults (EFAULT)" :
	      "still reads the pinned page");
	gem_close(h);
	munmap(p, 4 * PAGE);
}

static void test_mprotect(unsigned int mode, unsigned int downgrade)
{
	struct drm_mirrordrm_inval_record recs[16];
	struct drm_mirrordrm_behaviour beh = {
		.flags = downgrade ? MIRRORDRM_BEHAVIOUR_RO_DOWNGRADE : 0,
	};
	unsigned char *p = map_pages(4, 2), b = 0;
	unsigned int h = 0;
	int n, ret;

	drain(recs, 16, NULL);
	ioctl(fd, DRM_IOCTL_MIRRORDRM_SET_BEHAVIOUR, &beh);
	if (userptr(p, 4 * PAGE, mode, &h)) {
		check(0, "%s: create", mode_name(mode));
		return;
	}
	dev_access(h, 0, scratch, 4 * PAGE, MIRRORDRM_ACCESS_READ);	/* populate */
	mprotect(p, 4 * PAGE, PROT_READ);
	n = drain(recs, 16, NULL);
	check(n >= 1 && recs[0].event == MIRRORDRM_EVENT_PROTECTION_VMA &&
	      recs[0].start == (uintptr_t)p && recs[0].end == (uintptr_t)p + 4 * PAGE,
	      "%s%s: mprotect(PROT_READ) gives PROTECTION_VMA over the range",
	      mode_name(mode), downgrade ? " ro-downgrade" : "");
	if (n > 0)
		show(&recs[0], (uintptr_t)p);
	ret = dev_access(h, 0, &b, 1, MIRRORDRM_ACCESS_READ);
	printf("#   %s%s: device read after mprotect(PROT_READ): %s, update known read-only: %d, downgraded %llu\n",
	       mode_name(mode), downgrade ? " ro-downgrade" : "",
	       ret ? strerror(-ret) : "ok", n > 0 && (recs[0].flags & MIRRORDRM_RECORD_READ_ONLY),
	       n > 0 ? (unsigned long long)recs[0].pages_downgraded : 0ull);
	if (mode != MIRRORDRM_USERPTR_MODE_HMM)
		check(!ret && b == 2, "%s: device read after mprotect(PROT_READ) uses the kept pages",
		      mode_name(mode));
	else if (downgrade && n > 0 && (recs[0].flags & MIRRORDRM_RECORD_READ_ONLY))
		check(!ret && b == 2 && recs[0].pages_downgraded == 4 && recs[0].pages_dropped == 0,
		      "hmm ro-downgrade: the kernel says read-only: 4 pages downgraded, device still reads");
	else
		check(ret == -EPERM && n > 0 && recs[0].pages_dropped == 4,
		      "hmm%s: %s: 4 pages dropped, the writable object's refault gets EPERM",
		      downgrade ? " ro-downgrade" : "",
		      downgrade ? "the kernel does not say the update is read-only" : "protection change");
	beh.flags = 0;
	ioctl(fd, DRM_IOCTL_MIRRORDRM_SET_BEHAVIOUR, &beh);
	gem_close(h);
	munmap(p, 4 * PAGE);
}

/* The misleading pin: MADV_DONTNEED, then the CPU writes new bytes. */
static void test_misleading_pin(unsigned int mode, unsigned int extra)
{
	struct drm_mirrordrm_inval_record recs[16];
	unsigned char *p = map_pages(2, 0x11), b = 0;
	struct drm_mirrordrm_page pg[2];
	struct drm_mirrordrm_snapshot s = { .count = 2, .pages = (uintptr_t)pg };
	unsigned int h = 0;
	int n, ret, expect_old;

	drain(recs, 16, NULL);
	if (userptr(p, 2 * PAGE, mode | extra, &h)) {
		check(0, "%s: create", mode_name(mode));
		return;
	}
	madvise(p, 2 * PAGE, MADV_DONTNEED);
	p[0] = 0x22;
	n = drain(recs, 16, NULL);
	if (n > 0)
		show(&recs[0], (uintptr_t)p);
	ret = dev_access(h, 0, &b, 1, MIRRORDRM_ACCESS_READ);
	s.handle = h;
	ioctl(fd, DRM_IOCTL_MIRRORDRM_SNAPSHOT, &s);
	expect_old = mode != MIRRORDRM_USERPTR_MODE_HMM && !(extra & MIRRORDRM_USERPTR_GUP_REPIN);
	printf("#   %s%s: device reads 0x%02x (cpu 0x22), page0 dev flags 0x%x cpu flags 0x%x\n",
	       mode_name(mode), extra ? " repin" : "", b, pg[0].dev_flags, pg[0].cpu_flags);
	check(!ret && b == (expect_old ? 0x11 : 0x22) && n >= 1 &&
	      recs[0].event == MIRRORDRM_EVENT_CLEAR,
	      "%s%s: after MADV_DONTNEED and a CPU write the device reads the %s bytes",
	      mode_name(mode), extra ? " repin" : "", expect_old ? "old (pinned)" : "new");
	gem_close(h);
	munmap(p, 2 * PAGE);
}

static void fork_cow(unsigned int mode)
{
	struct drm_mirrordrm_inval_record recs[16];
	unsigned char *p = map_pages(1, 0x31), b = 0;
	unsigned int h = 0;
	pid_t pid;
	int n, i, ret, st;

	drain(recs, 16, NULL);
	if (userptr(p, PAGE, mode, &h)) {
		check(0, "%s: create", mode_name(mode));
		return;
	}
	pid = fork();
	if (pid == 0) {
		p[0] = 0x33;	/* child writes its copy */
		_exit(0);
	}
	waitpid(pid, &st, 0);
	p[0] = 0x32;		/* parent writes after fork */
	n = drain(recs, 16, NULL);
	for (i = 0; i < n; i++)
		show(&recs[i], (uintptr_t)p);
	ret = dev_access(h, 0, &b, 1, MIRRORDRM_ACCESS_READ);
	printf("#   %s: after fork, child wrote 0x33, parent 0x32: device reads 0x%02x (%d records)\n",
	       mode_name(mode), b, n);
	check(!ret && (b == 0x32 || b == 0x31),
	      "%s: fork + COW: device reads %s", mode_name(mode),
	      b == 0x32 ? "the parent's new bytes" : "a stale page");
	gem_close(h);
	munmap(p, PAGE);
}

/* The child writes first, then the parent: every mode, one case as in the TypeScript suite. */
static void test_fork_cow(unsigned int mode, unsigned int arg)
{
	size_t i;

	for (i = 0; i < 4; i++)
		fork_cow(modes[i]);
}

static void test_exit_release(unsigned int mode, unsigned int arg)
{
	struct drm_mirrordrm_inval_record recs[64];
	int n, i, st, rel = 0, unmaps = 0;
	pid_t pid;

	drain(recs, 64, NULL);
	pid = fork();
	if (pid == 0) {
		unsigned char *p = map_pages(4, 5);
		unsigned int h1 = 0, h2 = 0;

		userptr(p, 4 * PAGE, MIRRORDRM_USERPTR_MODE_HMM | MIRRORDRM_USERPTR_POPULATE, &h1);
		userptr(p, 4 * PAGE, MIRRORDRM_USERPTR_MODE_GUP, &h2);
		_exit(0);	/* objects stay alive: the parent's fd holds them */
	}
	waitpid(pid, &st, 0);
	n = drain(recs, 64, NULL);
	for (i = 0; i < n; i++) {
		if (recs[i].event == MIRRORDRM_EVENT_RELEASE)
			rel++;
		if (recs[i].event == MIRRORDRM_EVENT_UNMAP)
			unmaps++;
	}
	printf("#   child exit: %d records, %d RELEASE, %d UNMAP\n", n, rel, unmaps);
	for (i = 0; i < n && i < 4; i++)
		show(&recs[i], 0);
	check(rel == 2, "exit of a process with live objects gives one RELEASE per object");
}

static void test_bad_args(unsigned int mode, unsigned int arg)
{
	unsigned char *p = map_pages(4, 0);
	unsigned int h = 0;
	struct drm_mirrordrm_access a = { 0 };
	struct drm_mirrordrm_snapshot s = { 0 };
	struct drm_mirrordrm_stats st = { 0 };
	struct drm_mirrordrm_behaviour b = { 0 };
	int ok;

	check(userptr(p, 0, MIRRORDRM_USERPTR_MODE_HMM, &h) == -EINVAL, "size 0: EINVAL");
	check(userptr(p + 1, PAGE, MIRRORDRM_USERPTR_MODE_HMM, &h) == -EINVAL, "unaligned address: EINVAL");
	check(userptr(p, PAGE + 1, MIRRORDRM_USERPTR_MODE_HMM, &h) == -EINVAL, "unaligned size: EINVAL");
	check(userptr(p, PAGE, 0, &h) == -EINVAL, "no mode: EINVAL");
	check(userptr(p, PAGE, MIRRORDRM_USERPTR_MODE_SVM + 1, &h) == -EINVAL, "mode 6: EINVAL");
	check(userptr(p, PAGE, MIRRORDRM_USERPTR_MODE_HMM | (1u << 31), &h) == -EINVAL, "unknown flag: EINVAL");
	check(userptr(p, PAGE, MIRRORDRM_USERPTR_MODE_HMM | MIRRORDRM_USERPTR_GUP_REPIN, &h) == -EINVAL,
	      "HMM with GUP_REPIN: EINVAL");
	check(userptr((void *)(uintptr_t)-PAGE, 2 * PAGE, MIRRORDRM_USERPTR_MODE_GUP, &h) == -EFAULT,
	      "address + size wraps: EFAULT");
	check(userptr((void *)(1ul << 47), PAGE, MIRRORDRM_USERPTR_MODE_GUP, &h) == -EFAULT,
	      "kernel half: EFAULT");
	check(userptr(p, 1ull << 33, MIRRORDRM_USERPTR_MODE_GUP, &h) == -E2BIG, "8 GiB: E2BIG");
	munmap(p + PAGE, PAGE);
	check(userptr(p, 4 * PAGE, MIRRORDRM_USERPTR_MODE_HMM, &h) == -EFAULT, "hole in range, hmm: EFAULT");
	check(userptr(p, 4 * PAGE, MIRRORDRM_USERPTR_MODE_GUP, &h) == -EFAULT, "hole in range, gup: EFAULT");

	a.handle = 12345;
	a.flags = MIRRORDRM_ACCESS_READ;
	a.length = 1;
	check(ioctl(fd, DRM_IOCTL_MIRRORDRM_ACCESS, &a) && errno == ENOENT, "access to a bad handle: ENOENT");
	ok = !userptr(p, PAGE, MIRRORDRM_USERPTR_MODE_HMM, &h);
	a.handle = h;
	a.data = (uintptr_t)p + 2 * PAGE;
	a.offset = PAGE - 1;
	a.length = 2;
	check(ok && ioctl(fd, DRM_IOCTL_MIRRORDRM_ACCESS, &a) && errno == EINVAL, "access past the end: EINVAL");
	a.offset = 0;
	a.length = 1;
	a.flags = 3;
	check(ioctl(fd, DRM_IOCTL_MIRRORDRM_ACCESS, &a) && errno == EINVAL, "access READ|WRITE: EINVAL");
	a.flags = MIRRORDRM_ACCESS_READ;
	a.offset = ~0ull;
	check(ioctl(fd, DRM_IOCTL_MIRRORDRM_ACCESS, &a) && errno == EINVAL, "access offset wraps: EINVAL");
	a.offset = 0;
	a.data = 8;
	check(ioctl(fd, DRM_IOCTL_MIRRORDRM_ACCESS, &a) && errno == EFAULT, "access to a bad user pointer: EFAULT");
	s.handle = h;
	s.count = 2;
	s.pages = (uintptr_t)p + 2 * PAGE;
	check(ioctl(fd, DRM_IOCTL_MIRRORDRM_SNAPSHOT, &s) && errno == EINVAL, "snapshot past the end: EINVAL");
	s.count = 1;
	s.pages = 16;
	check(ioctl(fd, DRM_IOCTL_MIRRORDRM_SNAPSHOT, &s) && errno == EFAULT, "snapshot to a bad pointer: EFAULT");
	st.flags = 1;
	check(ioctl(fd, DRM_IOCTL_MIRRORDRM_STATS, &st) && errno == EINVAL, "stats with flags: EINVAL");
	b.fence_wait_ns = MIRRORDRM_FENCE_WAIT_MAX_NS + 1;
	check(ioctl(fd, DRM_IOCTL_MIRRORDRM_SET_BEHAVIOUR, &b) && errno == EINVAL, "fence wait over 1 s: EINVAL");
	b.fence_wait_ns = 0;
	b.flags = 2;
	check(ioctl(fd, DRM_IOCTL_MIRRORDRM_SET_BEHAVIOUR, &b) && errno == EINVAL, "unknown behaviour flag: EINVAL");
	gem_close(h);
	munmap(p, 4 * PAGE);
}

static void test_stats_snapshot(unsigned int mode, unsigned int arg)
{
	struct drm_mirrordrm_counters c = { 0 };
	struct drm_mirrordrm_stats st = { .counters = (uintptr_t)&c, .size = sizeof(c) };
	struct drm_mirrordrm_page pg[4];
	struct drm_mirrordrm_snapshot s = { .count = 4, .pages = (uintptr_t)pg };
	unsigned char *p = mmap(NULL, 4 * PAGE, PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	unsigned char b[4 * PAGE];
	unsigned int h = 0;
	volatile unsigned char x;

	x = p[0];	/* read fault: the zero page */
	(void)x;
	p[PAGE] = 1;	/* write fault: a real page */
	if (userptr(p, 4 * PAGE, MIRRORDRM_USERPTR_MODE_HMM | MIRRORDRM_USERPTR_READ_ONLY, &h)) {
		check(0, "hmm read-only create");
		return;
	}
	s.handle = h;
	ioctl(fd, DRM_IOCTL_MIRRORDRM_SNAPSHOT, &s);
	printf("#   before access: cpu flags %x %x %x %x, dev flags %x %x %x %x\n",
	       pg[0].cpu_flags, pg[1].cpu_flags, pg[2].cpu_flags, pg[3].cpu_flags,
	       pg[0].dev_flags, pg[1].dev_flags, pg[2].dev_flags, pg[3].dev_flags);
	check((pg[0].cpu_flags & MIRRORDRM_PAGE_ZERO) && (pg[1].cpu_flags & MIRRORDRM_PAGE_WRITE) &&
	      !(pg[2].cpu_flags & MIRRORDRM_PAGE_VALID) && !pg[0].dev_flags,
	      "snapshot without faulting: zero page, writable page, not present; device view empty");
	dev_access(h, 0, b, sizeof(b), MIRRORDRM_ACCESS_READ);
	ioctl(fd, DRM_IOCTL_MIRRORDRM_SNAPSHOT, &s);
	printf("#   after access: dev flags %x %x %x %x, cpu %x %x %x %x\n",
	       pg[0].dev_flags, pg[1].dev_flags, pg[2].dev_flags, pg[3].dev_flags,
	       pg[0].cpu_flags, pg[1].cpu_flags, pg[2].cpu_flags, pg[3].cpu_flags);
	check((pg[0].dev_flags & MIRRORDRM_PAGE_ZERO) && (pg[3].dev_flags & MIRRORDRM_PAGE_ZERO) &&
	      (pg[1].dev_flags & MIRRORDRM_PAGE_SAME) && !(pg[1].dev_flags & MIRRORDRM_PAGE_ZERO) &&
	      b[PAGE] == 1 && b[0] == 0,
	      "lazy read-only HMM populate maps the zero page and the same pfns as the CPU");
	st.handle = h;
	ioctl(fd, DRM_IOCTL_MIRRORDRM_STATS, &st);
	printf("#   stats: objects %llu pages %llu valid %llu hmm calls %llu ebusy %llu populates %llu accesses %llu\n",
	       (unsigned long long)c.objects, (unsigned long long)c.pages,
	       (unsigned long long)c.pages_valid, (unsigned long long)c.hmm_range_fault_calls,
	       (unsigned long long)c.hmm_range_fault_ebusy, (unsigned long long)c.populates,
	       (unsigned long long)c.device_accesses);
	check(c.objects == 1 && c.pages == 4 && c.pages_valid == 4 && c.hmm_range_fault_calls >= 1 &&
	      c.device_accesses == 1 && c.pages_pinned == 0,
	      "object stats count one access, one valid page, no pins");
	gem_close(h);
	munmap(p, 4 * PAGE);
}

static void test_poll(unsigned int mode, unsigned int arg)
{
	struct pollfd pf = { .fd = fd, .events = POLLIN };
	struct drm_mirrordrm_inval_record recs[8];
	unsigned char *p = map_pages(1, 0);
	unsigned int h = 0;
	int r1, r2;

	drain(recs, 8, NULL);
	userptr(p, PAGE, MIRRORDRM_USERPTR_MODE_HMM, &h);
	r1 = poll(&pf, 1, 0);
	munmap(p, PAGE);
	r2 = poll(&pf, 1, 0);
	check(r1 == 0 && r2 == 1 && (pf.revents & POLLIN), "poll: POLLIN once a record waits");
	drain(recs, 8, NULL);
	gem_close(h);
}


static struct drm_mirrordrm_counters stats_of(int f, unsigned int handle)
{
	struct drm_mirrordrm_counters c = { 0 };
	struct drm_mirrordrm_stats st = {
		.handle = handle, .counters = (uintptr_t)&c, .size = sizeof(c),
	};

	ioctl(f, DRM_IOCTL_MIRRORDRM_STATS, &st);
	return c;
}

/* Emulated fence wait: a blockable callback sleeps, holding the driver lock. */
static void test_fence_wait(unsigned int mode, unsigned int arg)
{
	struct drm_mirrordrm_inval_record recs[8];
	unsigned char *p = map_pages(2, 0);
	struct drm_mirrordrm_behaviour b = { .fence_wait_ns = 2000000 };
	unsigned int h = 0;
	int n;

	drain(recs, 8, NULL);
	if (userptr(p, 2 * PAGE, MIRRORDRM_USERPTR_MODE_HMM | MIRRORDRM_USERPTR_POPULATE, &h)) {
		check(0, "fence wait: create");
		return;
	}
	b.handle = h;
	ioctl(fd, DRM_IOCTL_MIRRORDRM_SET_BEHAVIOUR, &b);
	munmap(p, PAGE);
	n = drain(recs, 8, NULL);
	if (n > 0)
		show(&recs[0], (uintptr_t)p);
	check(n == 1 && (recs[0].flags & MIRRORDRM_RECORD_FENCE_WAIT) &&
	      recs[0].duration_ns >= 2000000 && recs[0].pages_dropped == 1,
	      "fence wait of 2 ms: the blockable UNMAP callback took >= 2 ms and dropped 1 page");
	gem_close(h);
	munmap(p + PAGE, PAGE);
}

/* Two files mirror the same buffer: each gets its own record. */
static void test_two_devices(unsigned int mode, unsigned int arg)
{
	struct drm_mirrordrm_inval_record r1[8], r2[8];
	struct drm_mirrordrm_inval_read rd = { .records = (uintptr_t)r2, .count = 8 };
	unsigned char *p = map_pages(2, 9), b1 = 0, b2 = 0;
	int fd2 = open_render(NULL), fd1 = fd, n1;
	unsigned int h1 = 0, h2 = 0;
	int ok;

	if (fd2 < 0) {
		check(0, "two devices: second open");
		return;
	}
	drain(r1, 8, NULL);
	ok = !userptr(p, 2 * PAGE, MIRRORDRM_USERPTR_MODE_HMM, &h1);
	fd = fd2;
	ok = ok && !userptr(p, 2 * PAGE, MIRRORDRM_USERPTR_MODE_GUP, &h2);
	fd = fd1;
	madvise(p, PAGE, MADV_DONTNEED);
	p[0] = 10;
	n1 = drain(r1, 8, NULL);
	ioctl(fd2, DRM_IOCTL_MIRRORDRM_INVAL_READ, &rd);
	dev_access(h1, 0, &b1, 1, MIRRORDRM_ACCESS_READ);
	fd = fd2;
	dev_access(h2, 0, &b2, 1, MIRRORDRM_ACCESS_READ);
	fd = fd1;
	printf("#   two files: hmm reads %u, gup reads %u (cpu 10); records %d and %u\n", b1, b2, n1, rd.count);
	check(ok && n1 == 1 && rd.count == 1 && r1[0].handle == h1 && r2[0].handle == h2 &&
	      r1[0].start == r2[0].start && r1[0].end == r2[0].end && b1 == 10 && b2 == 9,
	      "two files mirroring one buffer: one record each, hmm sees the new page, gup the old");
	close(fd2);
	gem_close(h1);
	munmap(p, 2 * PAGE);
}

/* Races: a thread invalidates in a loop while the device reads. */
static atomic_int race_stop;
static atomic_int race_gen;

struct race_arg {
	unsigned char *p;
	size_t len;
	int unmap;
};

static void *race_invalidator(void *arg)
{
	struct race_arg *a = arg;
	int i = 0;

	while (!atomic_load(&race_stop)) {
		if (a->unmap) {
			/* replace the pages under the device: new bytes each time */
			int g = atomic_fetch_add(&race_gen, 1) + 1;

			madvise(a->p, a->len, MADV_DONTNEED);
			memset(a->p, g & 0x7f, a->len);
		} else {
			mprotect(a->p, a->len, (i++ & 1) ? PROT_READ | PROT_WRITE : PROT_READ);
		}
	}
	return NULL;
}

static void test_race(unsigned int mode, unsigned int unmap)
{
	static unsigned char buf[16 * PAGE];
	struct race_arg a = { .len = 16 * PAGE, .unmap = unmap };
	struct drm_mirrordrm_counters c;
	unsigned int h = 0, flags = mode;
	int i, bad = 0, errors = 0, reads = 0, first_err = 0;
	pthread_t t;
	size_t j;

	a.p = map_pages(16, 0);
	atomic_store(&race_gen, 0);
	atomic_store(&race_stop, 0);
	if (mode == MIRRORDRM_USERPTR_MODE_HMM && !unmap)
		flags |= MIRRORDRM_USERPTR_READ_ONLY;	/* refault must work under PROT_READ */
	if (userptr(a.p, a.len, flags, &h)) {
		check(0, "race: create");
		return;
	}
	pthread_create(&t, NULL, race_invalidator, &a);
	for (i = 0; i < 300; i++) {
		int ret = dev_access(h, 0, buf, sizeof(buf), MIRRORDRM_ACCESS_READ);
		int g = atomic_load(&race_gen);

		if (ret) {
			errors++;
			first_err = first_err ? first_err : ret;
			continue;
		}
		reads++;
		/* every byte must be one the buffer held at some point */
		for (j = 0; j < sizeof(buf); j++)
			if (buf[j] > (unsigned char)((g + 1) & 0x7f) && g < 0x7f)
				bad++;
	}
	atomic_store(&race_stop, 1);
	pthread_join(t, NULL);
	c = stats_of(fd, h);
	printf("#   %s race (%s): %d reads, %d errors (%s), gens %d, invalidations %llu, populates %llu, ebusy %llu, read_retry %llu\n",
	       mode_name(mode), unmap ? "DONTNEED+rewrite" : "mprotect RO/RW", reads, errors,
	       first_err ? strerror(-first_err) : "-", atomic_load(&race_gen),
	       (unsigned long long)c.invalidations, (unsigned long long)c.populates,
	       (unsigned long long)c.hmm_range_fault_ebusy, (unsigned long long)c.read_retry);
	if (mode == MIRRORDRM_USERPTR_MODE_HMM)
		check(bad == 0 && errors == 0 && reads > 0 && c.invalidations > 0 &&
		      c.populates > 1,
		      "hmm race with %s: no foreign bytes, no errors, the device revalidated",
		      unmap ? "DONTNEED+rewrite" : "mprotect");
	else
		check(bad == 0 && errors == 0 && reads > 0 && c.invalidations > 0,
		      "%s race with %s: no foreign bytes, no errors", mode_name(mode),
		      unmap ? "DONTNEED+rewrite" : "mprotect");
	gem_close(h);
	munmap(a.p, a.len);
}

/* Several threads using one file at once. */
static atomic_int conc_errors;

static void *conc_worker(void *arg)
{
	unsigned int mode = modes[(uintptr_t)arg % 4];
	unsigned char b[64];
	int i;

	for (i = 0; i < 50; i++) {
		unsigned char *p = map_pages(4, (unsigned char)i);
		unsigned int h = 0;
		struct drm_mirrordrm_page pg[4];
		struct drm_mirrordrm_snapshot s = { .count = 4, .pages = (uintptr_t)pg };

		if (userptr(p, 4 * PAGE, mode, &h) ||
		    dev_access(h, PAGE, b, sizeof(b), MIRRORDRM_ACCESS_READ) ||
		    b[0] != (unsigned char)i)
			atomic_fetch_add(&conc_errors, 1);
		s.handle = h;
		if (ioctl(fd, DRM_IOCTL_MIRRORDRM_SNAPSHOT, &s))
			atomic_fetch_add(&conc_errors, 1);
		if (i & 1)
			munmap(p, 4 * PAGE);	/* invalidate with the object alive */
		gem_close(h);
		if (!(i & 1))
			munmap(p, 4 * PAGE);
	}
	return NULL;
}

static void *conc_drainer(void *arg)
{
	struct drm_mirrordrm_inval_record recs[64];
	int i;

	(void)arg;
	for (i = 0; i < 200; i++) {
		drain(recs, 64, NULL);
		stats_of(fd, 0);
	}
	return NULL;
}

static void test_concurrent_ioctls(unsigned int mode, unsigned int arg)
{
	pthread_t t[5];
	uintptr_t i;
	struct drm_mirrordrm_counters c, c0 = stats_of(fd, 0);

	atomic_store(&conc_errors, 0);
	for (i = 0; i < 4; i++)
		pthread_create(&t[i], NULL, conc_worker, (void *)i);
	pthread_create(&t[4], NULL, conc_drainer, NULL);
	for (i = 0; i < 5; i++)
		pthread_join(t[i], NULL);
	c = stats_of(fd, 0);
	printf("#   concurrent: errors %d, objects left %llu, pinned %llu, valid %llu, invalidations %llu, lost %llu\n",
	       atomic_load(&conc_errors), (unsigned long long)c.objects,
	       (unsigned long long)c.pages_pinned, (unsigned long long)c.pages_valid,
	       (unsigned long long)c.invalidations, (unsigned long long)c.log_lost);
	/* objects of the exited child (test_exit_release) are still on this file */
	check(atomic_load(&conc_errors) == 0 && c.objects == c0.objects &&
	      c.pages_pinned == c0.pages_pinned && c.pages_valid == c0.pages_valid,
	      "4 threads creating, reading, snapshotting and closing on one file, 1 draining: no errors, nothing leaked");
}

static sigjmp_buf bus_jmp;

static void on_sigbus(int sig)
{
	(void)sig;
	siglongjmp(bus_jmp, 1);
}

/* Writes v at p; returns 1 if the write got SIGBUS. */
static int write_or_sigbus(unsigned char *p, unsigned char v)
{
	struct sigaction sa = { .sa_handler = on_sigbus }, old;
	volatile int bus = 0;

	sigaction(SIGBUS, &sa, &old);
	if (!sigsetjmp(bus_jmp, 1))
		*p = v;
	else
		bus = 1;
	sigaction(SIGBUS, &old, NULL);
	return bus;
}

/*
 * A pinned 1 GiB hugetlb page: after MADV_DONTNEED the CPU's refault needs a
 * new huge page; with the pool's only page pinned, it gets SIGBUS.
 */
static void test_hugetlb_1g_pin(unsigned int mode, unsigned int arg)
{
	size_t len = 1ul << 30;
	unsigned char *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | (30 << MAP_HUGE_SHIFT), -1, 0);
	unsigned char b = 0;
	unsigned int h = 0;
	int ret, bus;

	if (p == MAP_FAILED) {
		skip("no 1 GiB hugetlb page (%s)", strerror(errno));
		return;
	}
	p[0] = 0x11;
	ret = userptr(p, len, mode | (mode == MIRRORDRM_USERPTR_MODE_HMM ? MIRRORDRM_USERPTR_POPULATE : 0), &h);
	if (ret) {
		check(0, "%s 1 GiB hugetlb: create: %s", mode_name(mode), strerror(-ret));
		munmap(p, len);
		return;
	}
	madvise(p, len, MADV_DONTNEED);
	bus = write_or_sigbus(p, 0x22);
	ret = dev_access(h, 0, &b, 1, MIRRORDRM_ACCESS_READ);
	printf("#   %s 1 GiB hugetlb: CPU write after DONTNEED: %s; device reads %s 0x%02x\n",
	       mode_name(mode), bus ? "SIGBUS" : "ok", ret ? strerror(-ret) : "ok", b);
	if (mode == MIRRORDRM_USERPTR_MODE_HMM)
		check(!bus && !ret && b == 0x22, "hmm 1 GiB hugetlb: the page is freed, the CPU refaults a new one, the device reads it");
	else
		check(bus && !ret && b == 0x11,
		      "%s 1 GiB hugetlb: the pin keeps the pool's only page: the CPU refault gets SIGBUS, the device reads the old page",
		      mode_name(mode));
	gem_close(h);
	munmap(p, len);
}

#ifndef __NR_pidfd_open
#define __NR_pidfd_open 434
#endif
#ifndef __NR_process_mrelease
#define __NR_process_mrelease 448
#endif

/*
 * Non-blockable invalidations: process_mrelease() reaps a killed process's
 * memory the way the OOM reaper does, with non-blockable ranges. An object
 * with an emulated fence (a busy device) answers false, as trylock-based
 * drivers do; the reaper then skips that VMA and exit_mmap() finishes later.
 * flags: the child's USERPTR flags, 0 for a populated HMM object. With
 * MIRRORDRM_USERPTR_TWO_PASS the record must be a two-pass one: a start pass
 * answering false for the busy object, a finish pass for the idle one (page
 * releases only: a non-blockable range hands no fence wait over).
 */
static void test_nonblockable(unsigned int flags, unsigned int busy)
{
	struct drm_mirrordrm_inval_record recs[64];
	int pipefd[2], n, i, st, nonblock = 0, wouldblock = 0, ret, pidfd;
	pid_t pid;
	char c;

	cpu_set_t one, all;

	while (drain(recs, 64, NULL) > 0)
		;
	if (!flags)
		flags = MIRRORDRM_USERPTR_MODE_HMM | MIRRORDRM_USERPTR_POPULATE;
	if (flags & MIRRORDRM_USERPTR_TWO_PASS) {
		unsigned char *q = map_pages(1, 1);
		unsigned int qh = 0;

		ret = userptr(q, PAGE, flags, &qh);
		if (!ret)
			gem_close(qh);
		munmap(q, PAGE);
		if (ret == -EOPNOTSUPP) {
			skip("two-pass notifiers: USERPTR_TWO_PASS refused with EOPNOTSUPP (Linux 7.1+)");
			return;
		}
	}
	if (pipe(pipefd))
		return;
	/* parent and child on one CPU: the killed child cannot exit before the reap */
	sched_getaffinity(0, sizeof(all), &all);
	CPU_ZERO(&one);
	CPU_SET(0, &one);
	sched_setaffinity(0, sizeof(one), &one);
	pid = fork();
	if (pid == 0) {
		unsigned char *p = map_pages(16, 3);
		unsigned int h = 0;
		struct drm_mirrordrm_behaviour b = { .fence_wait_ns = busy ? 1000000 : 0 };

		userptr(p, 16 * PAGE, flags, &h);
		b.handle = h;
		ioctl(fd, DRM_IOCTL_MIRRORDRM_SET_BEHAVIOUR, &b);
		if (write(pipefd[1], "r", 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	if (read(pipefd[0], &c, 1) != 1)
		c = 0;
	pidfd = syscall(__NR_pidfd_open, pid, 0);
	/* SCHED_FIFO: the woken child does not preempt us before the reap */
	{
		struct sched_param fifo = { .sched_priority = 1 }, normal = { 0 };

		sched_setscheduler(0, SCHED_FIFO, &fifo);
		kill(pid, SIGKILL);
		ret = pidfd >= 0 ? syscall(__NR_process_mrelease, pidfd, 0) : -1;
		sched_setscheduler(0, SCHED_OTHER, &normal);
	}
	int err = ret ? errno : 0;

	printf("#   %s object: process_mrelease: %s\n", busy ? "busy" : "idle", err ? strerror(err) : "ok");
	waitpid(pid, &st, 0);
	sched_setaffinity(0, sizeof(all), &all);
	n = drain(recs, 64, NULL);
	for (i = 0; i < n; i++) {
		if (!(recs[i].flags & MIRRORDRM_RECORD_BLOCKABLE))
			nonblock++;
		if (recs[i].flags & MIRRORDRM_RECORD_WOULD_BLOCK)
			wouldblock++;
		if (i < 6)
			show(&recs[i], 0);
	}
	printf("#   %d records, %d non-blockable, %d answered false\n", n, nonblock, wouldblock);
	close(pipefd[0]);
	close(pipefd[1]);
	if (pidfd >= 0)
		close(pidfd);
	if (err == ENOSYS || err == ESRCH || err == EINVAL)
		skip("non-blockable callbacks: process_mrelease: %s", strerror(err));
	else if (busy)
		check(err == EAGAIN && nonblock > 0 && wouldblock == nonblock,
		      "process_mrelease reaps with non-blockable ranges; the busy object answers false, the reap fails with EAGAIN");
	else
		check(!err && nonblock > 0 && wouldblock == 0 && recs[0].pages_dropped == 16,
		      "process_mrelease reaps with a non-blockable range; the idle object drops its 16 pages");
	if ((flags & MIRRORDRM_USERPTR_TWO_PASS) && n > 0) {
		unsigned int want = MIRRORDRM_RECORD_TWO_PASS |
			(busy ? MIRRORDRM_RECORD_WOULD_BLOCK : 0);
		unsigned int mask = MIRRORDRM_RECORD_TWO_PASS | MIRRORDRM_RECORD_WOULD_BLOCK |
			MIRRORDRM_RECORD_FINISH_FALLBACK | MIRRORDRM_RECORD_BLOCKABLE |
			MIRRORDRM_RECORD_FENCE_WAIT;

		printf("#   first record: flags 0x%x, start pass %llu ns, finish pass %llu ns\n",
		       recs[0].flags, (unsigned long long)recs[0].duration_ns,
		       (unsigned long long)recs[0].finish_ns);
		if (busy)
			check((recs[0].flags & mask) == want && recs[0].finish_ns == 0,
			      "two-pass: the start pass answers false (TWO_PASS | WOULD_BLOCK), no finish pass");
		else
			check((recs[0].flags & mask) == want && recs[0].finish_ns > 0,
			      "two-pass: non-blockable start pass, then a finish pass (no fence wait, no fallback)");
	}
}

static unsigned int fuzz_seed = 12345;

static unsigned int RND(void)
{
	fuzz_seed = fuzz_seed * 1103515245u + 12345u;
	return fuzz_seed >> 8;
}

/* Random arguments: any errno is fine, a WARN or Oops is not (the runner checks dmesg). */
static void test_fuzz(unsigned int mode, unsigned int arg)
{
	unsigned char *p = map_pages(16, 1);
	unsigned int handles[16] = { 0 };
	int i, created = 0;

	for (i = 0; i < 4000; i++) {
		unsigned int op = RND() % 5;
		uint64_t addrs[] = { (uintptr_t)p, (uintptr_t)p + PAGE * (RND() % 16),
				     0, (uint64_t)-PAGE, 1ull << 47, (uintptr_t)p + 1,
				     (uintptr_t)&i };
		uint64_t sizes[] = { PAGE, PAGE * (RND() % 20), 0, (uint64_t)-PAGE,
				     1ull << 32, 3 };
		unsigned int h = handles[RND() % 16];

		if (op == 0) {
			struct drm_mirrordrm_userptr a = {
				.address = addrs[RND() % 7], .size = sizes[RND() % 6],
				.flags = RND() & 0x7f,
			};

			if (!ioctl(fd, DRM_IOCTL_MIRRORDRM_USERPTR, &a)) {
				handles[RND() % 16] = a.handle;
				created++;
			}
		} else if (op == 1) {
			struct drm_mirrordrm_access a = {
				.handle = h, .flags = RND() % 4, .offset = RND() % (20 * PAGE),
				.length = RND() % (4 * PAGE), .data = addrs[RND() % 7],
			};

			ioctl(fd, DRM_IOCTL_MIRRORDRM_ACCESS, &a);
		} else if (op == 2) {
			static struct drm_mirrordrm_page pg[32];
			struct drm_mirrordrm_snapshot s = {
				.handle = h, .flags = RND() % 8 == 0, .first_page = RND() % 20,
				.count = RND() % 32, .pages = RND() % 4 ? (uintptr_t)pg : 64,
			};

			ioctl(fd, DRM_IOCTL_MIRRORDRM_SNAPSHOT, &s);
		} else if (op == 3) {
			if (RND() % 4 == 0)
				mprotect(p + PAGE * (RND() % 16), PAGE, RND() % 2 ? PROT_READ : PROT_READ | PROT_WRITE);
			else
				madvise(p + PAGE * (RND() % 16), PAGE, MADV_DONTNEED);
		} else {
			gem_close(h);
		}
	}
	mprotect(p, 16 * PAGE, PROT_READ | PROT_WRITE);
	for (i = 0; i < 16; i++)
		gem_close(handles[i]);
	munmap(p, 16 * PAGE);
	check(created > 0, "4000 random ioctls (%d objects created) returned errors, not crashes", created);
}

/*
 * In run order (the concurrency case counts the objects the exited child of
 * exit-release left on this file). Ids shared with the TypeScript suite:
 * read-write, munmap-partial, mprotect-read, misleading-pin, fork-cow,
 * exit-release, bad-args, two-files, race-*; docs/case-ids.md maps them.
 */
static const struct mdrm_case cases[] = {
	{ "read-write@gup", test_read_write, MIRRORDRM_USERPTR_MODE_GUP, 0 },
	{ "read-write@gup-longterm", test_read_write, MIRRORDRM_USERPTR_MODE_GUP_LONGTERM, 0 },
	{ "read-write@gup-get", test_read_write, MIRRORDRM_USERPTR_MODE_GUP_GET, 0 },
	{ "read-write@hmm", test_read_write, MIRRORDRM_USERPTR_MODE_HMM, 0 },
	{ "munmap-partial@gup", test_munmap, MIRRORDRM_USERPTR_MODE_GUP, 0 },
	{ "munmap-partial@gup-longterm", test_munmap, MIRRORDRM_USERPTR_MODE_GUP_LONGTERM, 0 },
	{ "munmap-partial@gup-get", test_munmap, MIRRORDRM_USERPTR_MODE_GUP_GET, 0 },
	{ "munmap-partial@hmm", test_munmap, MIRRORDRM_USERPTR_MODE_HMM, 0 },
	{ "mprotect-read@gup", test_mprotect, MIRRORDRM_USERPTR_MODE_GUP, 0 },
	{ "mprotect-read@gup-longterm", test_mprotect, MIRRORDRM_USERPTR_MODE_GUP_LONGTERM, 0 },
	{ "mprotect-read@gup-get", test_mprotect, MIRRORDRM_USERPTR_MODE_GUP_GET, 0 },
	{ "mprotect-read@hmm", test_mprotect, MIRRORDRM_USERPTR_MODE_HMM, 0 },
	{ "mprotect-read@hmm@ro-downgrade", test_mprotect, MIRRORDRM_USERPTR_MODE_HMM, 1 },
	{ "misleading-pin@gup", test_misleading_pin, MIRRORDRM_USERPTR_MODE_GUP, 0 },
	{ "misleading-pin@gup-longterm", test_misleading_pin, MIRRORDRM_USERPTR_MODE_GUP_LONGTERM,
	  0 },
	{ "misleading-pin@gup-get", test_misleading_pin, MIRRORDRM_USERPTR_MODE_GUP_GET, 0 },
	{ "misleading-pin@hmm", test_misleading_pin, MIRRORDRM_USERPTR_MODE_HMM, 0 },
	{ "misleading-pin@gup@repin", test_misleading_pin, MIRRORDRM_USERPTR_MODE_GUP,
	  MIRRORDRM_USERPTR_GUP_REPIN },
	{ "fork-cow@child-first", test_fork_cow, 0, 0 },
	{ "exit-release", test_exit_release, 0, 0 },
	{ "bad-args", test_bad_args, 0, 0 },
	{ "snapshot-stats", test_stats_snapshot, 0, 0 },
	{ "poll", test_poll, 0, 0 },
	{ "fence-wait", test_fence_wait, 0, 0 },
	{ "two-files", test_two_devices, 0, 0 },
	{ "race-mprotect@hmm", test_race, MIRRORDRM_USERPTR_MODE_HMM, 0 },
	{ "race-dontneed@hmm", test_race, MIRRORDRM_USERPTR_MODE_HMM, 1 },
	{ "race-dontneed@gup", test_race, MIRRORDRM_USERPTR_MODE_GUP, 1 },
	{ "concurrent-ioctls", test_concurrent_ioctls, 0, 0 },
	{ "fuzz", test_fuzz, 0, 0 },
	{ "nonblockable@busy", test_nonblockable, 0, 1 },
	{ "nonblockable@idle", test_nonblockable, 0, 0 },
	{ "nonblockable@busy@two-pass", test_nonblockable,
	  MIRRORDRM_USERPTR_MODE_HMM | MIRRORDRM_USERPTR_POPULATE | MIRRORDRM_USERPTR_TWO_PASS, 1 },
	{ "nonblockable@idle@two-pass", test_nonblockable,
	  MIRRORDRM_USERPTR_MODE_HMM | MIRRORDRM_USERPTR_POPULATE | MIRRORDRM_USERPTR_TWO_PASS, 0 },
	{ "nonblockable@gup@idle@two-pass", test_nonblockable,
	  MIRRORDRM_USERPTR_MODE_GUP | MIRRORDRM_USERPTR_GUP_REPIN | MIRRORDRM_USERPTR_TWO_PASS, 0 },
	{ "misleading-pin@hmm@hugetlb-1g", test_hugetlb_1g_pin, MIRRORDRM_USERPTR_MODE_HMM, 0 },
	{ "misleading-pin@gup@hugetlb-1g", test_hugetlb_1g_pin, MIRRORDRM_USERPTR_MODE_GUP, 0 },
};

int main(int argc, char **argv)
{
	int i, n = ARRAY_SIZE(cases), pass = 0, fail = 0, skipped = 0;
	/* run only the cases whose id contains this string */
	const char *only = getenv("MIRRORDRM_TEST_ONLY");

	fd = open_render(argc > 1 ? argv[1] : NULL);
	printf("KTAP version 1\n");
	{
		char rel[128] = "?";
		FILE *f = fopen("/proc/sys/kernel/osrelease", "r");

		if (f) {
			if (!fgets(rel, sizeof(rel), f))
				strcpy(rel, "?\n");
			fclose(f);
		}
		printf("# kernel %s", rel);
	}
	if (fd < 0) {
		printf("1..0 # SKIP no mirrordrm render node\n");
		return 4;
	}
	printf("1..%d\n", n);
	for (i = 0; i < n; i++) {
		cur = &cases[i];
		if (only && !strstr(cur->id, only)) {
			printf("ok %d %s # SKIP not selected (MIRRORDRM_TEST_ONLY=%s)\n", i + 1, cur->id, only);
			skipped++;
			continue;
		}
		cur_checks = 0;
		cur_failed = 0;
		cur_skip[0] = 0;
		cur->run(cur->mode, cur->arg);
		if (cur_skip[0]) {
			printf("ok %d %s # SKIP %s\n", i + 1, cur->id, cur_skip);
			skipped++;
		} else if (cur_failed || !cur_checks) {
			/* a case that checked nothing proves nothing */
			printf("not ok %d %s\n", i + 1, cur->id);
			fail++;
		} else {
			printf("ok %d %s\n", i + 1, cur->id);
			pass++;
		}
		fflush(stdout);
	}
	printf("# totals: pass:%d fail:%d skip:%d\n", pass, fail, skipped);
	return fail ? 1 : 0;
}
