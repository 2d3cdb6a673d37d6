/*
 * touch_ref: the plain C reference for mirrorlab's fault timing loop.
 *
 * It does what native/fault_timing.cc does, in a separate small process and
 * without Node: for each repetition it maps a fresh region (mmap flags,
 * alignment by over-allocation and trimming, a madvise list), then touches
 * it every `stride` bytes, timing each single access with
 * clock_gettime(CLOCK_MONOTONIC), and counts the faults with
 * getrusage(RUSAGE_THREAD) and, where permitted, perf_event_open software
 * counters (page-faults, minor, major). It prints one JSON object.
 *
 *   touch_ref --length BYTES [--stride BYTES] [--read|--write] [--reps N]
 *             [--prot N] [--flags N] [--align BYTES] [--madvise N[,N...]]
 *             [--populate] [--no-perf] [--no-samples]
 *
 * Numbers may be decimal or 0x hex. --populate times one
 * madvise(MADV_POPULATE_WRITE) per region instead of the touch loop.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/perf_event.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

static inline uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int perf_fd[3] = { -1, -1, -1 };
static int perf_excl;

static int perf_open_group(int excl)
{
	static const uint64_t cfg[3] = { PERF_COUNT_SW_PAGE_FAULTS,
					 PERF_COUNT_SW_PAGE_FAULTS_MIN,
					 PERF_COUNT_SW_PAGE_FAULTS_MAJ };
	struct perf_event_attr a;
	int i, err;

	for (i = 0; i < 3; i++) {
		memset(&a, 0, sizeof(a));
		a.size = sizeof(a);
		a.type = PERF_TYPE_SOFTWARE;
		a.config = cfg[i];
		a.disabled = i == 0;
		a.exclude_kernel = excl;
		a.exclude_hv = 1;
		a.read_format = PERF_FORMAT_GROUP;
		perf_fd[i] = syscall(__NR_perf_event_open, &a, 0, -1,
				     i ? perf_fd[0] : -1, PERF_FLAG_FD_CLOEXEC);
		if (perf_fd[i] < 0) {
			err = errno;
			while (i--) {
				close(perf_fd[i]);
				perf_fd[i] = -1;
			}
			return err;
		}
	}
	perf_excl = excl;
	return 0;
}

struct rep_rec {
	unsigned long addr;
	uint64_t total;
	long minflt, majflt;
	int perf_ok;
	struct { uint64_t nr, v[3]; } pc;
};

static void die(const char *what)
{
	int err = errno;

	printf("{\"tool\":\"touch_ref\",\"error\":{\"syscall\":\"%s\",\"code\":\"%s\",\"errno\":%d,\"message\":\"%s\"}}\n",
	       what, strerrorname_np(err) ? strerrorname_np(err) : "E?", -err, strerror(err));
	exit(1);
}

static uint64_t num(const char *s)
{
	char *end;
	uint64_t v = strtoull(s, &end, 0);

	if (*s == '\0' || *end != '\0') {
		fprintf(stderr, "touch_ref: bad number '%s'\n", s);
		exit(2);
	}
	return v;
}

int main(int argc, char **argv)
{
	size_t length = 0, stride = 4096, reps = 1, align = 0, n, i, rep;
	int prot = PROT_READ | PROT_WRITE, flags = MAP_PRIVATE | MAP_ANONYMOUS;
	int write = 1, populate = 0, want_perf = 1, want_samples = 1, perf_err = 0;
	int advice[16], nadvice = 0, a;
	double *samples;
	struct rep_rec *recs;

	for (a = 1; a < argc; a++) {
		const char *o = argv[a];
		const char *v = a + 1 < argc ? argv[a + 1] : NULL;

		if (!strcmp(o, "--read")) {
			write = 0;
		} else if (!strcmp(o, "--write")) {
			write = 1;
		} else if (!strcmp(o, "--populate")) {
			populate = 1;
		} else if (!strcmp(o, "--no-perf")) {
			want_perf = 0;
		} else if (!strcmp(o, "--no-samples")) {
			want_samples = 0;
		} else if (v && !strcmp(o, "--length")) {
			length = num(v); a++;
		} else if (v && !strcmp(o, "--stride")) {
			stride = num(v); a++;
		} else if (v && !strcmp(o, "--reps")) {
			reps = num(v); a++;
		} else if (v && !strcmp(o, "--prot")) {
			prot = (int)num(v); a++;
		} else if (v && !strcmp(o, "--flags")) {
			flags = (int)num(v); a++;
		} else if (v && !strcmp(o, "--align")) {
			align = num(v); a++;
		} else if (v && !strcmp(o, "--madvise")) {
			char *list = strdup(v), *tok, *save;

			for (tok = strtok_r(list, ",", &save); tok && nadvice < 16;
			     tok = strtok_r(NULL, ",", &save))
				advice[nadvice++] = (int)num(tok);
			free(list);
			a++;
		} else {
			fprintf(stderr, "touch_ref: unknown or incomplete option '%s'\n", o);
			return 2;
		}
	}
	if (!length || !stride || !reps || (align & (align - 1))) {
		fprintf(stderr, "touch_ref: --length, --stride, --reps must be non-zero, --align a power of two\n");
		return 2;
	}
	n = populate ? 1 : (length + stride - 1) / stride;

	if (want_perf) {
		perf_err = perf_open_group(0);
		if (perf_err == EACCES || perf_err == EPERM)
			perf_err = perf_open_group(1) ? perf_err : 0;
	}

	/* Everything is measured first and printed at the end, so that a
	 * failure prints one error object and nothing else. */
	samples = calloc(n * reps, sizeof(*samples));
	recs = calloc(reps, sizeof(*recs));
	if (!samples || !recs)
		die("calloc");
	/* Fault the sample buffer in now (calloc may hand out untouched
	 * zero pages), so the timed loop takes no fault but the measured ones. */
	for (i = 0; i < n * reps * sizeof(*samples); i += 4096)
		((volatile char *)samples)[i] = 0;

	for (rep = 0; rep < reps; rep++) {
		struct rep_rec *rr = &recs[rep];
		double *s = samples + rep * n;
		struct rusage ru0, ru1;
		uint64_t start, end;
		char *p;
		int k;

		if (align && !(flags & MAP_HUGETLB)) {
			char *raw = mmap(NULL, length + align, prot, flags, -1, 0);
			uintptr_t al;

			if (raw == MAP_FAILED)
				die("mmap");
			al = ((uintptr_t)raw + align - 1) & ~(uintptr_t)(align - 1);
			if (al - (uintptr_t)raw)
				munmap(raw, al - (uintptr_t)raw);
			if (align - (al - (uintptr_t)raw))
				munmap((char *)al + length, align - (al - (uintptr_t)raw));
			p = (char *)al;
		} else {
			p = mmap(NULL, length, prot, flags, -1, 0);
			if (p == MAP_FAILED)
				die("mmap");
		}
		for (k = 0; k < nadvice; k++)
			if (madvise(p, length, advice[k]))
				die("madvise");

		/* Touch what the counted window writes to (see fault_timing.cc). */
		memset(&ru0, 0, sizeof(ru0));
		memset(&ru1, 0, sizeof(ru1));
		memset(rr, 0, sizeof(*rr));
		now_ns();
		getrusage(RUSAGE_THREAD, &ru0);
		if (perf_fd[0] >= 0) {
			ioctl(perf_fd[0], PERF_EVENT_IOC_RESET, PERF_IOC_FLAG_GROUP);
			ioctl(perf_fd[0], PERF_EVENT_IOC_ENABLE, PERF_IOC_FLAG_GROUP);
		}
		start = now_ns();
		if (populate) {
			uint64_t t0 = now_ns();

			if (madvise(p, length, MADV_POPULATE_WRITE))
				die("madvise");
			s[0] = (double)(now_ns() - t0);
		} else if (write) {
			for (i = 0; i < n; i++) {
				uint64_t t0 = now_ns();

				*(volatile char *)(p + i * stride) = 1;
				s[i] = (double)(now_ns() - t0);
			}
		} else {
			for (i = 0; i < n; i++) {
				uint64_t t0 = now_ns();

				(void)*(volatile char *)(p + i * stride);
				s[i] = (double)(now_ns() - t0);
			}
		}
		end = now_ns();
		if (perf_fd[0] >= 0) {
			ioctl(perf_fd[0], PERF_EVENT_IOC_DISABLE, PERF_IOC_FLAG_GROUP);
			rr->perf_ok = read(perf_fd[0], &rr->pc, sizeof(rr->pc)) == (ssize_t)sizeof(rr->pc) &&
				      rr->pc.nr == 3;
		}
		getrusage(RUSAGE_THREAD, &ru1);
		munmap(p, length);
		rr->addr = (unsigned long)p;
		rr->total = end - start;
		rr->minflt = ru1.ru_minflt - ru0.ru_minflt;
		rr->majflt = ru1.ru_majflt - ru0.ru_majflt;
	}

	printf("{\"tool\":\"touch_ref\",\"clock\":\"CLOCK_MONOTONIC\",\"length\":%zu,\"stride\":%zu,"
	       "\"write\":%s,\"populate\":%s,\"touches\":%zu,",
	       length, stride, write ? "true" : "false", populate ? "true" : "false", n);
	if (!want_perf)
		printf("\"perf\":{\"available\":false,\"code\":\"disabled\"},");
	else if (perf_fd[0] >= 0)
		printf("\"perf\":{\"available\":true,\"excludeKernel\":%s},", perf_excl ? "true" : "false");
	else
		printf("\"perf\":{\"available\":false,\"code\":\"%s\",\"errno\":%d,\"message\":\"%s\"},",
		       strerrorname_np(perf_err) ? strerrorname_np(perf_err) : "E?", -perf_err,
		       strerror(perf_err));
	printf("\"reps\":[");
	for (rep = 0; rep < reps; rep++) {
		struct rep_rec *rr = &recs[rep];

		printf("%s{\"address\":\"0x%lx\",\"totalNs\":%llu,\"rusage\":{\"minflt\":%ld,\"majflt\":%ld},",
		       rep ? "," : "", rr->addr, (unsigned long long)rr->total, rr->minflt, rr->majflt);
		if (rr->perf_ok)
			printf("\"perf\":{\"pageFaults\":%llu,\"minor\":%llu,\"major\":%llu}",
			       (unsigned long long)rr->pc.v[0], (unsigned long long)rr->pc.v[1],
			       (unsigned long long)rr->pc.v[2]);
		else
			printf("\"perf\":null");
		if (want_samples) {
			printf(",\"samples\":[");
			for (i = 0; i < n; i++)
				printf("%s%.0f", i ? "," : "", samples[rep * n + i]);
			printf("]");
		}
		printf("}");
	}
	printf("]}\n");
	free(recs);
	free(samples);
	return 0;
}
