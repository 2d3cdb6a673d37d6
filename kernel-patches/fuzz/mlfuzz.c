// SPDX-License-Identifier: GPL-2.0-only
/*
 * mlfuzz: a deterministic ioctl fuzzer for the modules mirrorlab loads in its
 * guests (mirrordrm, fakevram) and for the kernel's test_hmm.
 *
 *   mlfuzz --target mirrordrm|fakevram|test_hmm [--calls N] [--seed S]
 *          [--threads T] [--first-thread K] [--check-every K] [--dry-run]
 *          [--trace] [--device PATH] [--coverage] [--corpus FILE]
 *
 * Every thread draws its calls from a PRNG of its own (splitmix64) seeded
 * from --seed and its thread number, so the sequence of calls a thread makes
 * (which ioctl, which backing, which field mutated how) depends on the seed
 * alone; only the interleaving of the threads, and so the kernel's answers,
 * vary between runs.  --dry-run prints that sequence without making a call.
 *
 * A call is a valid structure with at most one field mutated (zero, huge,
 * overflowing offset + length, misaligned, stale handle, unknown flags,
 * pointer into a hole, a read-only or a PROT_NONE mapping) or, now and then,
 * random bytes.  Between calls the threads map and unmap memory of every
 * backing (anon 4 KiB, THP, hugetlb, shmem, read-only, PROT_NONE, the
 * fakevram device), mprotect, MADV_DONTNEED, mremap, fork (the child makes a
 * few calls on the inherited file and exits) and close and reopen the device.
 *
 * Every --check-every calls a thread reads /dev/kmsg for kernel reports; a
 * report prints the seed, the thread and the call index, so that
 * "--seed S --threads 1 --first-thread T --calls I+1" replays thread T's
 * calls up to it.
 *
 * --corpus FILE makes the calls in FILE first, in order (one thread: the
 * same sequence again), then draws as usual. --coverage (kernels with KCOV)
 * keeps every call that reaches a new edge and mutates kept calls; see
 * "coverage guidance" below.
 *
 * Output (one fact a line, parsed by src/fuzz/detect.ts):
 *   errno <operation> <ok|ERRNO name> <count>   (all threads together)
 *   report thread=T call=I seed=S <kernel line>
 *   recent call t... (after a report: the reading thread's last calls)
 *   corpus loaded=N other-target=M file=F       (--corpus)
 *   keep new=E call t...                        (--coverage: a call with E new edges)
 *   coverage edges=E pcs=P kept=K corpus=C loaded=L full=F
 *   done calls=N seconds=X threads=T seed=S
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/ioctl.h>
#include <linux/types.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "uapi/fakevram.h"
#include "uapi/mirrordrm.h"

#define PAGE 4096ull
#define HUGE_2M (2ull << 20)

/* ---- DRM core uapi (include/uapi/drm/drm.h), the calls mirrordrm answers ---- */
struct ml_drm_version {
	int version_major, version_minor, version_patchlevel;
	size_t name_len;
	char *name;
	size_t date_len;
	char *date;
	size_t desc_len;
	char *desc;
};
struct ml_drm_gem_close { __u32 handle, pad; };
struct ml_drm_get_cap { __u64 capability, value; };
struct ml_drm_prime_handle { __u32 handle, flags; __s32 fd; };
#define ML_DRM_IOCTL_VERSION		_IOWR('d', 0x00, struct ml_drm_version)
#define ML_DRM_IOCTL_GEM_CLOSE		_IOW('d', 0x09, struct ml_drm_gem_close)
#define ML_DRM_IOCTL_GET_CAP		_IOWR('d', 0x0c, struct ml_drm_get_cap)
#define ML_DRM_IOCTL_PRIME_HANDLE_TO_FD	_IOWR('d', 0x2d, struct ml_drm_prime_handle)
#define ML_DRM_IOCTL_PRIME_FD_TO_HANDLE	_IOWR('d', 0x2e, struct ml_drm_prime_handle)

/* ---- test_hmm's uapi (lib/test_hmm_uapi.h), same layout ---- */
struct ml_hmm_cmd { __u64 addr, ptr, npages, cpages, faults; };
#define ML_HMM_READ		_IOWR('H', 0x00, struct ml_hmm_cmd)
#define ML_HMM_WRITE		_IOWR('H', 0x01, struct ml_hmm_cmd)
#define ML_HMM_MIGRATE_TO_DEV	_IOWR('H', 0x02, struct ml_hmm_cmd)
#define ML_HMM_MIGRATE_TO_SYS	_IOWR('H', 0x03, struct ml_hmm_cmd)
#define ML_HMM_SNAPSHOT		_IOWR('H', 0x04, struct ml_hmm_cmd)
#define ML_HMM_EXCLUSIVE	_IOWR('H', 0x05, struct ml_hmm_cmd)
#define ML_HMM_CHECK_EXCLUSIVE	_IOWR('H', 0x06, struct ml_hmm_cmd)
#define ML_HMM_RELEASE		_IOWR('H', 0x07, struct ml_hmm_cmd)
#define ML_HMM_FLAGS		_IOWR('H', 0x08, struct ml_hmm_cmd)

/* ---- the PRNG: splitmix64, small, fast and the same everywhere ---- */
static uint64_t next_u64(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}
static uint64_t below(uint64_t *s, uint64_t n) { return n ? next_u64(s) % n : 0; }
static int chance(uint64_t *s, unsigned pct) { return below(s, 100) < pct; }

/* ---- operations: the ioctls of each target, then the memory operations ---- */
enum op {
	OP_MDRM_USERPTR, OP_MDRM_ACCESS, OP_MDRM_SNAPSHOT, OP_MDRM_INVAL_READ,
	OP_MDRM_STATS, OP_MDRM_SET_BEHAVIOUR, OP_MDRM_MIGRATE, OP_MDRM_EXCLUSIVE,
	OP_MDRM_DEVICE_INFO, OP_DRM_VERSION, OP_DRM_GEM_CLOSE, OP_DRM_GET_CAP,
	OP_DRM_PRIME_TO_FD, OP_DRM_PRIME_TO_HANDLE,
	OP_FV_INFO, OP_FV_SET_POLICY, OP_FV_GET_POLICY, OP_FV_COUNTERS, OP_FV_EVICT,
	OP_FV_ACCESS,
	OP_HMM_READ, OP_HMM_WRITE, OP_HMM_MIGRATE_TO_DEV, OP_HMM_MIGRATE_TO_SYS,
	OP_HMM_SNAPSHOT, OP_HMM_EXCLUSIVE, OP_HMM_CHECK_EXCLUSIVE, OP_HMM_RELEASE,
	OP_HMM_FLAGS,
	OP_RANDOM_IOCTL,
	/* memory and file operations interleaved with the ioctls */
	OP_MAP, OP_MUNMAP, OP_MPROTECT, OP_DONTNEED, OP_MREMAP, OP_TOUCH, OP_FORK,
	OP_REOPEN,
	NR_OPS
};
static const char *const op_names[NR_OPS] = {
	"MIRRORDRM_USERPTR", "MIRRORDRM_ACCESS", "MIRRORDRM_SNAPSHOT", "MIRRORDRM_INVAL_READ",
	"MIRRORDRM_STATS", "MIRRORDRM_SET_BEHAVIOUR", "MIRRORDRM_MIGRATE", "MIRRORDRM_EXCLUSIVE",
	"MIRRORDRM_DEVICE_INFO", "DRM_VERSION", "DRM_GEM_CLOSE", "DRM_GET_CAP",
	"DRM_PRIME_HANDLE_TO_FD", "DRM_PRIME_FD_TO_HANDLE",
	"FAKEVRAM_INFO", "FAKEVRAM_SET_POLICY", "FAKEVRAM_GET_POLICY", "FAKEVRAM_COUNTERS",
	"FAKEVRAM_EVICT", "FAKEVRAM_ACCESS",
	"HMM_DMIRROR_READ", "HMM_DMIRROR_WRITE", "HMM_DMIRROR_MIGRATE_TO_DEV",
	"HMM_DMIRROR_MIGRATE_TO_SYS", "HMM_DMIRROR_SNAPSHOT", "HMM_DMIRROR_EXCLUSIVE",
	"HMM_DMIRROR_CHECK_EXCLUSIVE", "HMM_DMIRROR_RELEASE", "HMM_DMIRROR_FLAGS",
	"random_ioctl",
	"mmap", "munmap", "mprotect", "madv_dontneed", "mremap", "touch", "fork", "reopen",
};

enum target { T_MIRRORDRM, T_FAKEVRAM, T_TEST_HMM };
static const char *const target_names[] = { "mirrordrm", "fakevram", "test_hmm" };
static const enum op first_op[] = { OP_MDRM_USERPTR, OP_FV_INFO, OP_HMM_READ };
static const enum op last_op[] = { OP_DRM_PRIME_TO_HANDLE, OP_FV_ACCESS, OP_HMM_FLAGS };

enum backing { B_ANON, B_THP, B_HUGETLB, B_SHMEM, B_READ_ONLY, B_PROT_NONE, B_DEVICE, NR_BACKINGS };
static const char *const backing_names[] = { "anon", "thp", "hugetlb", "shmem", "read-only", "prot-none", "device" };

/* How one field of a valid structure is spoiled. */
enum mutation { M_NONE, M_ZERO, M_HUGE, M_OVERFLOW, M_MISALIGN, M_STALE, M_FLAGS, M_HOLE, M_RANDOM, NR_MUTATIONS };
static const char *const mutation_names[] = { "none", "zero", "huge", "overflow", "misalign", "stale", "flags", "hole", "random" };

/* ---- shared state: the device file, mappings, handles (racing threads share all) ---- */
#define MAX_REGIONS 16
#define MAX_HANDLES 64
struct region { uint64_t addr, len; enum backing backing; int live; };

static enum target target;
static const char *dev_path;
static const char *fakevram_path; /* device backing: fakevram, when present */
static int dev_fd = -1;
static uint64_t fv_size; /* fakevram's device memory, for the device backing and its ioctls */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct region regions[MAX_REGIONS];
static __u32 handles[MAX_HANDLES], dead_handles[MAX_HANDLES];
static uint64_t handle_sizes[MAX_HANDLES]; /* the object's size, 0 when not known */
static int nr_handles, nr_dead;
static uint64_t seed, total_calls, check_every = 64;
static int nr_threads = 1, first_thread, dry_run;
static int kmsg_fd = -1;

/* A call as drawn: what the dry run prints and the run executes. */
struct call {
	enum op op;
	unsigned slot;       /* region or handle table index */
	enum backing backing; /* OP_MAP */
	enum mutation mut;
	unsigned field;      /* which field the mutation hits */
	uint64_t a, b, c, d; /* offsets, lengths, flags: meaning per op */
};

struct thread {
	int id;
	uint64_t rng;
	uint64_t done;
	uint64_t errs[NR_OPS][136]; /* [op][errno], 0 = success; 135 = errno past the table */
	unsigned char *buf;         /* ACCESS/READ/WRITE data, snapshot and record buffers */
	pthread_t tid;
	/* --coverage: this thread's KCOV buffer and its last calls (a report prints them) */
	int kcov_fd;
	unsigned long *kcov_area;
	struct call recent[64];
	uint64_t recent_index[64];
	unsigned nr_recent;
};
#define BUF_BYTES (64 * PAGE)

static __thread sigjmp_buf fault_jmp;
static __thread volatile int fault_armed;

static void on_fault(int sig)
{
	if (fault_armed)
		siglongjmp(fault_jmp, sig);
	signal(sig, SIG_DFL);
	raise(sig);
}

static uint64_t thread_seed(uint64_t s, int id)
{
	uint64_t x = s ^ (0xd1b54a32d192ed03ull * (uint64_t)(id + 1));

	return next_u64(&x);
}

/* ---- drawing a call: depends on the PRNG only, never on the kernel's answers ---- */
static void draw(uint64_t *r, struct call *c)
{
	memset(c, 0, sizeof(*c));
	if (chance(r, 22)) {
		static const enum op mem_ops[] = { OP_MAP, OP_MAP, OP_MUNMAP, OP_MPROTECT, OP_DONTNEED,
						   OP_MREMAP, OP_TOUCH, OP_TOUCH, OP_FORK, OP_REOPEN };
		c->op = mem_ops[below(r, sizeof(mem_ops) / sizeof(mem_ops[0]))];
		/* fork and reopen are costly: keep them rare */
		if ((c->op == OP_FORK || c->op == OP_REOPEN) && !chance(r, 15))
			c->op = OP_TOUCH;
	} else if (chance(r, 2)) {
		c->op = OP_RANDOM_IOCTL;
	} else {
		c->op = first_op[target] + below(r, last_op[target] - first_op[target] + 1);
	}
	c->slot = below(r, 64);
	c->backing = below(r, NR_BACKINGS);
	c->mut = chance(r, 40) ? 1 + below(r, NR_MUTATIONS - 1) : M_NONE;
	c->field = below(r, 4);
	c->a = next_u64(r);
	c->b = next_u64(r);
	c->c = next_u64(r);
	c->d = next_u64(r);
}

static void format_call(char *out, size_t size, int t, uint64_t i, const struct call *c)
{
	snprintf(out, size, "call t%d #%llu %s slot=%u backing=%s mut=%s field=%u a=%016llx b=%016llx c=%016llx d=%016llx",
		 t, (unsigned long long)i, op_names[c->op], c->slot, backing_names[c->backing],
		 mutation_names[c->mut], c->field, (unsigned long long)c->a, (unsigned long long)c->b,
		 (unsigned long long)c->c, (unsigned long long)c->d);
}

static void print_call(FILE *f, int t, uint64_t i, const struct call *c)
{
	char line[256];

	format_call(line, sizeof(line), t, i, c);
	fprintf(f, "%s\n", line);
}

/*
 * ---- coverage guidance (--coverage, kernels with CONFIG_KCOV) ----
 *
 * Each thread enables KCOV_TRACE_PC on its own task (kcov records the PCs
 * of the task that enabled it, in task context only: its syscalls and its
 * page faults), clears the buffer before a call and reads what the call
 * reached after it. Consecutive PCs are hashed into edges and set in a map
 * the threads share with atomic ORs; a call that sets an edge nobody set
 * before is kept in the corpus and printed as a "keep" line. Half of the
 * later draws take a corpus entry and change one thing in it.
 *
 * What is kept depends on what the kernel covered, so under --coverage a
 * seed no longer fixes the sequence of calls: a report prints the reading
 * thread's last calls ("recent" lines) in the form --corpus reads back.
 */
#define KCOV_INIT_TRACE _IOR('c', 1, unsigned long)
#define KCOV_ENABLE _IO('c', 100)
#define KCOV_DISABLE _IO('c', 101)
#define KCOV_TRACE_PC 0
#define KCOV_PATH "/sys/kernel/debug/kcov"
#define KCOV_WORDS (256u << 10) /* PCs one call can record (kcov drops the rest), plus the count */
#define MAP_BITS (1u << 24)     /* the edge and the PC map: 2 MiB each */
#define MAX_CORPUS 65536

static int coverage;
static uint8_t *edge_map, *pc_map;
static uint64_t nr_edges, nr_pcs, nr_full; /* atomic: distinct edges, distinct PCs, calls that filled the buffer */
/* The corpus: --corpus entries first (replayed in order), then what this run kept. Under lock. */
static struct call *corpus;
static unsigned nr_corpus, nr_loaded, nr_kept;
static unsigned next_replay; /* atomic: the next --corpus entry to make */

static uint64_t mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ull;
	return x ^ (x >> 33);
}

/* Sets the bit of hash h; whether it was clear (1) or set already (0). */
static int set_new(uint8_t *map, uint64_t h)
{
	uint32_t bit = h & (MAP_BITS - 1);
	uint8_t mask = 1u << (bit & 7);

	return !(__atomic_fetch_or(&map[bit >> 3], mask, __ATOMIC_RELAXED) & mask);
}

/* Change one thing in a corpus entry: an argument nudged or redrawn, the mutation, field, slot or backing. */
static void mutate(uint64_t *r, struct call *c)
{
	switch (below(r, 8)) {
	case 0: c->a += below(r, 17) - 8; break;
	case 1: c->b += below(r, 17) - 8; break;
	case 2: c->c ^= 1ull << below(r, 64); break;
	case 3: c->d = next_u64(r); break;
	case 4: c->mut = below(r, NR_MUTATIONS); break;
	case 5: c->field = below(r, 4); break;
	case 6: c->slot = below(r, 64); break;
	default: c->backing = below(r, NR_BACKINGS); break;
	}
}

/* The next call: a --corpus entry while any is left, else a fresh draw or (--coverage) a mutated corpus entry. */
static void next_call(uint64_t *r, struct call *c)
{
	if (__atomic_load_n(&next_replay, __ATOMIC_RELAXED) < nr_loaded) {
		unsigned k = __atomic_fetch_add(&next_replay, 1, __ATOMIC_RELAXED);

		if (k < nr_loaded) {
			*c = corpus[k]; /* entries below nr_loaded never change */
			return;
		}
	}
	draw(r, c);
	if (coverage && chance(r, 50)) {
		unsigned n;

		pthread_mutex_lock(&lock);
		n = nr_corpus;
		if (n)
			*c = corpus[below(r, n)];
		pthread_mutex_unlock(&lock);
		if (n)
			mutate(r, c);
	}
}

/* What the call just made reached: new edges and PCs are counted, a call with a new edge kept. */
static void cover_end(unsigned long *area, int tid, uint64_t index, const struct call *c)
{
	uint64_t n = __atomic_load_n(&area[0], __ATOMIC_RELAXED);
	uint64_t prev = 0;
	unsigned new_edges = 0, new_pcs = 0;

	if (n >= KCOV_WORDS - 1) {
		n = KCOV_WORDS - 1;
		__atomic_fetch_add(&nr_full, 1, __ATOMIC_RELAXED);
	}
	for (uint64_t i = 0; i < n; i++) {
		uint64_t h = mix(area[i + 1]);

		new_pcs += set_new(pc_map, h);
		new_edges += set_new(edge_map, h ^ (prev >> 1));
		prev = h;
	}
	__atomic_fetch_add(&nr_pcs, new_pcs, __ATOMIC_RELAXED);
	__atomic_fetch_add(&nr_edges, new_edges, __ATOMIC_RELAXED);
	if (!new_edges)
		return;
	char line[256];

	format_call(line, sizeof(line), tid, index, c);
	pthread_mutex_lock(&lock);
	if (nr_corpus < MAX_CORPUS) {
		corpus[nr_corpus++] = *c;
		nr_kept++;
	}
	pthread_mutex_unlock(&lock);
	printf("keep new=%u %s\n", new_edges, line);
}

static int lookup(const char *const *names, int n, const char *name)
{
	for (int i = 0; i < n; i++)
		if (!strcmp(names[i], name))
			return i;
	return -1;
}

/*
 * --corpus FILE: calls as the dry run, "keep" and "recent" lines print them
 * (whatever comes before "call t" is ignored). Calls for another target's
 * ioctls are skipped and counted; a line that is not a call is an error.
 */
static void load_corpus(const char *path)
{
	FILE *f = fopen(path, "r");
	char line[512], opn[64], bn[32], mn[32];
	unsigned other = 0, lineno = 0, slot, field;
	unsigned long long idx, a, b, cc, d;
	int tid;

	if (!f) {
		fprintf(stderr, "mlfuzz: --corpus %s: %s\n", path, strerror(errno));
		exit(2);
	}
	while (fgets(line, sizeof(line), f)) {
		const char *at = strstr(line, "call t");
		int op, bk, mt;

		lineno++;
		if (line[0] == '#' || strspn(line, " \t\r\n") == strlen(line))
			continue;
		if (!at || sscanf(at, "call t%d #%llu %63s slot=%u backing=%31s mut=%31s field=%u a=%llx b=%llx c=%llx d=%llx",
				  &tid, &idx, opn, &slot, bn, mn, &field, &a, &b, &cc, &d) != 11 ||
		    (op = lookup(op_names, NR_OPS, opn)) < 0 || (bk = lookup(backing_names, NR_BACKINGS, bn)) < 0 ||
		    (mt = lookup(mutation_names, NR_MUTATIONS, mn)) < 0 || slot >= 64 || field >= 4) {
			fprintf(stderr, "mlfuzz: --corpus %s line %u is not a call line: %s", path, lineno, line);
			exit(2);
		}
		if (op < OP_RANDOM_IOCTL && (op < (int)first_op[target] || op > (int)last_op[target])) {
			other++;
			continue;
		}
		if (nr_corpus == MAX_CORPUS)
			break;
		corpus[nr_corpus++] = (struct call){ .op = op, .slot = slot, .backing = bk, .mut = mt,
						     .field = field, .a = a, .b = b, .c = cc, .d = d };
	}
	fclose(f);
	nr_loaded = nr_corpus;
	printf("corpus loaded=%u other-target=%u file=%s\n", nr_loaded, other, path);
}

/* ---- mutation of one field ---- */
static uint64_t spoil(const struct call *c, unsigned field, uint64_t valid, uint64_t limit)
{
	if (c->mut == M_NONE || c->field != field)
		return valid;
	switch (c->mut) {
	case M_ZERO: return 0;
	case M_HUGE: return ~0ull - (c->d & 0xfff);
	case M_OVERFLOW: return limit + PAGE * (1 + (c->d & 7));
	case M_MISALIGN: return valid + 1 + (c->d % (PAGE - 1));
	case M_FLAGS: return valid | (1ull << (8 + c->d % 24));
	case M_RANDOM: return c->d;
	default: return valid;
	}
}

static uint64_t hole(const struct call *c);
static int trace;

/* A region to point at, or a hole (address 0 area / unmapped) for M_HOLE. */
static struct region pick_region(const struct call *c)
{
	struct region r = { 0 };

	pthread_mutex_lock(&lock);
	for (unsigned k = 0; k < MAX_REGIONS; k++) {
		const struct region *x = &regions[(c->slot + k) % MAX_REGIONS];
		if (x->live) {
			r = *x;
			break;
		}
	}
	pthread_mutex_unlock(&lock);
	if (c->mut == M_HOLE || !r.live) {
		r.addr = hole(c);
		r.len = 16 * PAGE;
	}
	if (trace)
		fprintf(stderr, "  region %#llx +%#llx %s\n", (unsigned long long)r.addr, (unsigned long long)r.len,
			r.live ? backing_names[r.backing] : "hole");
	return r;
}

/*
 * An address no copy may succeed at: a reserved PROT_NONE range that nothing
 * maps over, or a kernel address.
 */
static uint8_t *hole_area;
#define HOLE_BYTES (64ull << 20)
static uint64_t hole(const struct call *c)
{
	if (c->d & 1)
		return 0xffff888000000000ull + (c->d & 0xfffff000ull); /* the direct map */
	return (uintptr_t)hole_area + (c->d % (HOLE_BYTES / PAGE)) * PAGE;
}

/*
 * The user pointer of a copy of `need` bytes: our buffer, or with the field
 * mutated a region (read-only, PROT_NONE, device memory, or unmapped by a
 * racing thread). Never memory of ours shorter than the copy: a kernel that
 * copies what it was told must not overwrite the fuzzer itself.
 */
static uint64_t user_ptr(const struct call *c, unsigned field, uint64_t need, uint8_t *buf)
{
	if (c->mut != M_NONE && c->field == field) {
		struct region r = pick_region(c);
		return c->mut != M_HOLE && r.len >= need ? r.addr : hole(c);
	}
	return need <= BUF_BYTES ? (uintptr_t)buf : hole(c);
}

/* A handle from the table and its object's size (0: not known), or a stale one for M_STALE. */
static __u32 pick_object(const struct call *c, uint64_t *size)
{
	__u32 h = 0;

	*size = 0;
	pthread_mutex_lock(&lock);
	if (c->mut == M_STALE && nr_dead) {
		h = dead_handles[c->slot % nr_dead];
	} else if (nr_handles) {
		h = handles[c->slot % nr_handles];
		*size = handle_sizes[c->slot % nr_handles];
	}
	pthread_mutex_unlock(&lock);
	if (c->mut == M_STALE && !h)
		h = 0x7fff0000u + (c->d & 0xff);
	return h;
}

static __u32 pick_handle(const struct call *c)
{
	uint64_t size;

	return pick_object(c, &size);
}

static void add_handle(__u32 h, uint64_t size)
{
	pthread_mutex_lock(&lock);
	if (nr_handles < MAX_HANDLES) {
		handle_sizes[nr_handles] = size;
		handles[nr_handles++] = h;
		h = 0;
	}
	pthread_mutex_unlock(&lock);
	if (h) { /* table full: close it again at once */
		struct ml_drm_gem_close gc = { .handle = h };
		ioctl(__atomic_load_n(&dev_fd, __ATOMIC_RELAXED), ML_DRM_IOCTL_GEM_CLOSE, &gc);
	}
}

static __u32 take_handle(unsigned slot)
{
	__u32 h = 0;

	pthread_mutex_lock(&lock);
	if (nr_handles) {
		unsigned k = slot % nr_handles;
		h = handles[k];
		handles[k] = handles[--nr_handles];
		handle_sizes[k] = handle_sizes[nr_handles];
		if (nr_dead < MAX_HANDLES)
			dead_handles[nr_dead++] = h;
		else
			dead_handles[slot % MAX_HANDLES] = h;
	}
	pthread_mutex_unlock(&lock);
	return h;
}

/* Offset and length inside [0, size) in pages, at least one page. */
static void range_in(uint64_t size, uint64_t a, uint64_t b, uint64_t *off, uint64_t *len)
{
	uint64_t pages = size / PAGE ? size / PAGE : 1;
	uint64_t first = a % pages;
	uint64_t n = 1 + b % (pages - first < 64 ? pages - first : 64);

	*off = first * PAGE;
	*len = n * PAGE;
}

/*
 * The object a call that needs one works on: a handle from the table, or,
 * when the table is empty (GEM_CLOSE and reopen empty it often), a populated
 * HMM object over a live region made here first (up to 2 MiB: a THP region
 * gives MIGRATE a folio to move whole). Without it MIGRATE, SNAPSHOT and
 * EXCLUSIVE met no object most of the time and their success paths got a
 * few dozen calls in a million.
 */
static __u32 object_for(int fd, const struct call *c, uint64_t *size)
{
	struct drm_mirrordrm_userptr u = { 0 };
	__u32 h = pick_object(c, size);
	struct region r;

	if (h || c->mut == M_STALE)
		return h;
	r = pick_region(c);
	u.address = r.addr;
	u.size = r.len < 512 * PAGE ? r.len : 512 * PAGE;
	u.flags = MIRRORDRM_USERPTR_MODE_HMM | MIRRORDRM_USERPTR_POPULATE;
	if (ioctl(fd, DRM_IOCTL_MIRRORDRM_USERPTR, &u))
		return 0;
	add_handle(u.handle, u.size);
	*size = u.size;
	return u.handle;
}

/* A range inside an object of `size` bytes (unknown: 0), sometimes all of it. */
static void object_range(const struct call *c, uint64_t size, uint64_t *off, uint64_t *len)
{
	if (size && (c->c & 4)) {
		*off = 0;
		*len = size;
		return;
	}
	range_in(size ? size : 1024 * PAGE, c->a, c->b, off, len);
}

/* ---- the ioctls ---- */
static long do_ioctl(struct thread *t, const struct call *c)
{
	uint64_t size;
	int fd = __atomic_load_n(&dev_fd, __ATOMIC_RELAXED);
	unsigned char *buf = t->buf;
	struct region r;
	uint64_t off, len;
	__u32 h;

	switch (c->op) {
	case OP_MDRM_USERPTR: {
		static const __u32 modes[] = { MIRRORDRM_USERPTR_MODE_GUP, MIRRORDRM_USERPTR_MODE_GUP_LONGTERM,
					       MIRRORDRM_USERPTR_MODE_GUP_GET, MIRRORDRM_USERPTR_MODE_HMM,
					       MIRRORDRM_USERPTR_MODE_SVM };
		struct drm_mirrordrm_userptr u = { 0 };
		__u32 extra = c->c & (MIRRORDRM_USERPTR_READ_ONLY | MIRRORDRM_USERPTR_POPULATE |
				      MIRRORDRM_USERPTR_GUP_REPIN | MIRRORDRM_USERPTR_TWO_PASS);
		r = pick_region(c);
		range_in(r.len, c->a, c->b, &off, &len);
		u.address = spoil(c, 0, r.addr + off, r.addr + r.len);
		u.size = spoil(c, 1, len, MIRRORDRM_USERPTR_MAX_SIZE);
		u.flags = spoil(c, 2, modes[c->c % 5] | extra, 0);
		if (c->mut == M_FLAGS && c->field == 3)
			u.flags = (u.flags & ~MIRRORDRM_USERPTR_MODE_MASK) | (6 + (c->d % 10)); /* unknown mode */
		if (ioctl(fd, DRM_IOCTL_MIRRORDRM_USERPTR, &u))
			return -1;
		add_handle(u.handle, u.size);
		return 0;
	}
	case OP_MDRM_ACCESS: {
		struct drm_mirrordrm_access x = { 0 };
		uint64_t at, most;
		h = object_for(fd, c, &size);
		x.handle = h;
		x.flags = spoil(c, 0, (c->c & 1) ? MIRRORDRM_ACCESS_READ : MIRRORDRM_ACCESS_WRITE, 0);
		if (c->mut == M_FLAGS && c->field == 0 && (c->d & 1))
			x.flags = MIRRORDRM_ACCESS_FLAGS; /* both directions at once */
		/* inside the object where its size is known */
		at = size ? c->a % size : (c->a % 16) * 64;
		most = size && size - at < BUF_BYTES / 4 ? size - at : BUF_BYTES / 4;
		x.offset = spoil(c, 1, at, 1ull << 32);
		x.length = spoil(c, 2, 1 + c->b % most, BUF_BYTES);
		x.data = user_ptr(c, 3, x.length, buf);
		return ioctl(fd, DRM_IOCTL_MIRRORDRM_ACCESS, &x);
	}
	case OP_MDRM_SNAPSHOT: {
		struct drm_mirrordrm_snapshot s = { 0 };
		uint64_t cap = BUF_BYTES / sizeof(struct drm_mirrordrm_page);
		uint64_t pages, first;
		s.handle = object_for(fd, c, &size);
		pages = size ? size / PAGE : 64;
		first = c->a % pages;
		if (pages - first < cap)
			cap = pages - first;
		s.flags = spoil(c, 0, 0, 0);
		s.first_page = spoil(c, 1, first, 1ull << 20);
		s.count = spoil(c, 2, 1 + c->b % cap, cap);
		s.pages = user_ptr(c, 3, s.count * sizeof(struct drm_mirrordrm_page), buf);
		return ioctl(fd, DRM_IOCTL_MIRRORDRM_SNAPSHOT, &s);
	}
	case OP_MDRM_INVAL_READ: {
		struct drm_mirrordrm_inval_read ir = { 0 };
		uint64_t cap = BUF_BYTES / sizeof(struct drm_mirrordrm_inval_record);
		ir.count = spoil(c, 1, 1 + c->b % cap, cap);
		ir.records = user_ptr(c, 0, (uint64_t)ir.count * sizeof(struct drm_mirrordrm_inval_record), buf);
		ir.flags = spoil(c, 2, 0, 0);
		return ioctl(fd, DRM_IOCTL_MIRRORDRM_INVAL_READ, &ir);
	}
	case OP_MDRM_STATS: {
		struct drm_mirrordrm_stats st = { 0 };
		st.handle = (c->c & 1) ? pick_handle(c) : 0;
		st.flags = spoil(c, 0, 0, 0);
		st.size = spoil(c, 2, sizeof(struct drm_mirrordrm_counters), 0);
		st.counters = user_ptr(c, 1, st.size, buf);
		st.pad = spoil(c, 3, 0, 0);
		return ioctl(fd, DRM_IOCTL_MIRRORDRM_STATS, &st);
	}
	case OP_MDRM_SET_BEHAVIOUR: {
		struct drm_mirrordrm_behaviour b = { 0 };
		b.handle = (c->c & 1) ? pick_handle(c) : 0;
		b.flags = spoil(c, 0, c->c & 2 ? MIRRORDRM_BEHAVIOUR_RO_DOWNGRADE : 0, 0);
		/*
		 * Valid delays stay in microseconds: the emulated fence wait and
		 * population delay sleep for real, up to a second each call.
		 */
		b.fence_wait_ns = (c->c & 4) ? c->a % 20000 : 0;
		b.populate_delay_ns = (c->c & 8) ? c->b % 20000 : 0;
		if (c->mut == M_OVERFLOW && c->field == 1)
			b.fence_wait_ns = MIRRORDRM_FENCE_WAIT_MAX_NS + 1;
		if (c->mut == M_OVERFLOW && c->field == 2)
			b.populate_delay_ns = MIRRORDRM_POPULATE_DELAY_MAX_NS + 1;
		if (c->mut == M_HUGE && c->field == 1)
			b.fence_wait_ns = ~0ull;
		return ioctl(fd, DRM_IOCTL_MIRRORDRM_SET_BEHAVIOUR, &b);
	}
	case OP_MDRM_MIGRATE: {
		struct drm_mirrordrm_migrate m = { 0 };
		static const __u32 dirs[] = { MIRRORDRM_MIGRATE_TO_DEVICE, MIRRORDRM_MIGRATE_TO_RAM };
		m.handle = object_for(fd, c, &size);
		m.flags = spoil(c, 0, dirs[c->c & 1] | ((c->c & 2) ? MIRRORDRM_MIGRATE_COMPOUND : 0), 0);
		if (c->mut == M_FLAGS && c->field == 0 && (c->d & 1))
			m.flags = MIRRORDRM_MIGRATE_TO_DEVICE | MIRRORDRM_MIGRATE_TO_RAM;
		object_range(c, size, &off, &len);
		m.offset = spoil(c, 1, off, 1ull << 32);
		m.length = spoil(c, 2, len, 1ull << 32);
		return ioctl(fd, DRM_IOCTL_MIRRORDRM_MIGRATE, &m);
	}
	case OP_MDRM_EXCLUSIVE: {
		struct drm_mirrordrm_exclusive e = { 0 };
		e.handle = object_for(fd, c, &size);
		e.flags = spoil(c, 0, 0, 0);
		object_range(c, size, &off, &len);
		e.offset = spoil(c, 1, off, 1ull << 32);
		e.length = spoil(c, 2, len, 1ull << 32);
		return ioctl(fd, DRM_IOCTL_MIRRORDRM_EXCLUSIVE, &e);
	}
	case OP_MDRM_DEVICE_INFO: {
		struct drm_mirrordrm_device_info di = { 0 };
		di.index = spoil(c, 0, c->a % 2, 4);
		di.pad = spoil(c, 1, 0, 0);
		return ioctl(fd, DRM_IOCTL_MIRRORDRM_DEVICE_INFO, &di);
	}
	case OP_DRM_VERSION: {
		struct ml_drm_version v = { 0 };
		v.name_len = spoil(c, 0, c->a % 64, 1 << 20);
		v.name = (char *)buf;
		v.date_len = spoil(c, 1, c->b % 64, 1 << 20);
		v.date = (char *)buf + 1024;
		v.desc_len = spoil(c, 2, c->c % 64, 1 << 20);
		v.desc = (char *)buf + 2048;
		if (c->field == 3 && c->mut != M_NONE)
			v.desc = (char *)(uintptr_t)user_ptr(c, 3, v.desc_len, buf);
		/* lengths past our 1 KiB slices: the strings go to holes */
		if (v.name_len > 1024)
			v.name = (char *)(uintptr_t)hole(c);
		if (v.date_len > 1024)
			v.date = (char *)(uintptr_t)hole(c);
		if (v.desc_len > 1024)
			v.desc = (char *)(uintptr_t)hole(c);
		return ioctl(fd, ML_DRM_IOCTL_VERSION, &v);
	}
	case OP_DRM_GEM_CLOSE: {
		struct ml_drm_gem_close gc = { 0 };
		gc.handle = c->mut == M_STALE ? pick_handle(c) : take_handle(c->slot);
		gc.pad = spoil(c, 1, 0, 0);
		return ioctl(fd, ML_DRM_IOCTL_GEM_CLOSE, &gc);
	}
	case OP_DRM_GET_CAP: {
		struct ml_drm_get_cap gc = { .capability = spoil(c, 0, c->a % 0x20, 0) };
		return ioctl(fd, ML_DRM_IOCTL_GET_CAP, &gc);
	}
	case OP_DRM_PRIME_TO_FD: {
		struct ml_drm_prime_handle p = { 0 };
		p.handle = pick_handle(c);
		p.flags = spoil(c, 1, (c->c & 1) ? O_CLOEXEC : 0, 0);
		if (ioctl(fd, ML_DRM_IOCTL_PRIME_HANDLE_TO_FD, &p))
			return -1;
		close(p.fd);
		return 0;
	}
	case OP_DRM_PRIME_TO_HANDLE: {
		/* Another file as a dma-buf: a memfd is none, and must be refused. */
		struct ml_drm_prime_handle p = { 0 };
		int other = memfd_create("mlfuzz", MFD_CLOEXEC);
		long ret;
		p.fd = c->mut == M_RANDOM ? (__s32)c->d : other;
		ret = ioctl(fd, ML_DRM_IOCTL_PRIME_FD_TO_HANDLE, &p);
		int e = errno;
		if (other >= 0)
			close(other);
		errno = e;
		if (!ret)
			add_handle(p.handle, 0);
		return ret;
	}
	case OP_FV_INFO: {
		struct fakevram_info fi;
		void *arg = (c->mut == M_HOLE) ? (void *)(uintptr_t)pick_region(c).addr : &fi;
		return ioctl(fd, FAKEVRAM_IOC_INFO, arg);
	}
	case OP_FV_SET_POLICY: {
		struct fakevram_policy p = { 0 };
		p.max_entry = spoil(c, 0, c->a % FAKEVRAM_NR_ENTRY_SIZES, FAKEVRAM_NR_ENTRY_SIZES);
		p.flags = spoil(c, 1, c->b & FAKEVRAM_POLICY_FLAGS, 0);
		p.reserved[c->d % 3] = spoil(c, 2, 0, 0);
		return ioctl(fd, FAKEVRAM_IOC_SET_POLICY, &p);
	}
	case OP_FV_GET_POLICY: {
		struct fakevram_policy p;
		void *arg = (c->mut == M_HOLE) ? (void *)(uintptr_t)pick_region(c).addr : &p;
		return ioctl(fd, FAKEVRAM_IOC_GET_POLICY, arg);
	}
	case OP_FV_COUNTERS: {
		struct fakevram_counters fc;
		memset(&fc, 0, sizeof(fc));
		fc.flags = spoil(c, 0, c->a & FAKEVRAM_COUNTERS_FLAGS, 0);
		fc.pad = spoil(c, 1, 0, 0);
		return ioctl(fd, FAKEVRAM_IOC_COUNTERS, &fc);
	}
	case OP_FV_EVICT: {
		struct fakevram_evict ev = { 0 };
		range_in(fv_size, c->a, c->b, &off, &len);
		if (c->c & 1) /* whole-device evictions are valid too */
			off = 0, len = fv_size;
		ev.offset = spoil(c, 0, off, fv_size);
		ev.length = spoil(c, 1, len, fv_size);
		ev.flags = spoil(c, 2, 0, 0);
		ev.pad = spoil(c, 3, 0, 0);
		return ioctl(fd, FAKEVRAM_IOC_EVICT, &ev);
	}
	case OP_FV_ACCESS: {
		struct fakevram_access ac = { 0 };
		range_in(fv_size, c->a, c->b, &off, &len);
		ac.offset = spoil(c, 0, off + (c->c % 64), fv_size);
		ac.length = spoil(c, 1, 1 + c->b % BUF_BYTES, fv_size);
		ac.user_ptr = user_ptr(c, 2, ac.length, buf);
		ac.flags = spoil(c, 3, c->c & FAKEVRAM_ACCESS_WRITE, 0);
		return ioctl(fd, FAKEVRAM_IOC_ACCESS, &ac);
	}
	case OP_HMM_READ: case OP_HMM_WRITE: case OP_HMM_MIGRATE_TO_DEV: case OP_HMM_MIGRATE_TO_SYS:
	case OP_HMM_SNAPSHOT: case OP_HMM_EXCLUSIVE: case OP_HMM_CHECK_EXCLUSIVE: case OP_HMM_RELEASE: {
		static const unsigned long cmds[] = { ML_HMM_READ, ML_HMM_WRITE, ML_HMM_MIGRATE_TO_DEV,
						      ML_HMM_MIGRATE_TO_SYS, ML_HMM_SNAPSHOT, ML_HMM_EXCLUSIVE,
						      ML_HMM_CHECK_EXCLUSIVE, ML_HMM_RELEASE };
		struct ml_hmm_cmd cmd = { 0 };
		/* READ and WRITE copy npages pages, SNAPSHOT npages bytes: the buffer holds 64 pages */
		r = pick_region(c);
		range_in(r.len, c->a, c->b, &off, &len);
		cmd.addr = spoil(c, 0, r.addr + off, r.addr + r.len);
		cmd.npages = spoil(c, 1, len / PAGE, 64);
		/*
		 * test_hmm walks [addr, addr + npages pages) a page or 32 pages at
		 * a time with no bound and no signal check (CHECK_EXCLUSIVE,
		 * EXCLUSIVE and SNAPSHOT over holes): a random npages of 2^40 keeps
		 * the call in the kernel for days and unkillable, and READ and WRITE
		 * vmalloc npages pages (a random 4 GiB ends in the OOM killer).
		 * Random sizes stay under 2^14 pages; ~0 (the overflow check) is
		 * still asked.
		 */
		if (c->mut == M_RANDOM && c->field == 1)
			cmd.npages = c->d % (1ull << 14);
		/* READ and WRITE vmalloc a bounce buffer of npages pages: past the range, not past the guest */
		if (c->mut == M_OVERFLOW && c->field == 1)
			cmd.npages = 64 + 1 + (c->d & 7);
		/* READ and WRITE copy npages pages; the others npages bytes at most */
		cmd.ptr = user_ptr(c, 2, cmd.npages > (1ull << 40) ? ~0ull : cmd.npages * PAGE, buf);
		return ioctl(fd, cmds[c->op - OP_HMM_READ], &cmd);
	}
	case OP_HMM_FLAGS: {
		/* npages carries the flags; FAIL_ALLOC makes the next device allocation fail */
		struct ml_hmm_cmd cmd = { 0 };
		cmd.npages = spoil(c, 0, (c->a % 8) == 0 ? 1 : 0, 0);
		return ioctl(fd, ML_HMM_FLAGS, &cmd);
	}
	case OP_RANDOM_IOCTL: {
		/* The target's ioctl type byte, random number, direction and size; argument: our buffer. */
		static const unsigned char types[] = { 'd', 0xB7, 'H' };
		unsigned long nr = _IOC(c->a & 3, types[target], c->b & 0xff, c->c % 512);
		uint64_t w = c->d;
		for (unsigned k = 0; k < 512 / 8; k++) {
			uint64_t v = next_u64(&w);
			memcpy(buf + 8 * k, &v, 8);
		}
		return ioctl(fd, nr, (c->field & 1) ? (void *)buf : (void *)(uintptr_t)c->d);
	}
	default:
		return 0;
	}
}

/* ---- memory and file operations ---- */
static int map_region(const struct call *c)
{
	uint64_t len = PAGE * (1 + c->a % 256);
	int prot = PROT_READ | PROT_WRITE, flags = MAP_PRIVATE | MAP_ANONYMOUS, fd = -1;
	uint64_t off = 0;
	void *p;

	switch (c->backing) {
	case B_THP:
	case B_HUGETLB:
		len = HUGE_2M * (1 + c->a % 2);
		if (c->backing == B_HUGETLB)
			flags |= MAP_HUGETLB;
		break;
	case B_SHMEM:
		fd = memfd_create("mlfuzz-shmem", MFD_CLOEXEC);
		if (fd < 0 || ftruncate(fd, len))
			goto fail;
		flags = MAP_SHARED;
		break;
	case B_READ_ONLY: prot = PROT_READ; break;
	case B_PROT_NONE: prot = PROT_NONE; break;
	case B_DEVICE:
		if (!fakevram_path || !fv_size)
			return 0; /* no device memory in this guest: nothing mapped */
		fd = open(fakevram_path, O_RDWR | O_CLOEXEC);
		if (fd < 0)
			goto fail;
		len = (c->b & 1) ? HUGE_2M : PAGE * (1 + c->a % 64);
		off = ((c->c % (fv_size / HUGE_2M ? fv_size / HUGE_2M : 1)) * HUGE_2M);
		if (c->mut == M_OVERFLOW)
			off = fv_size; /* past the device: faults must SIGBUS */
		flags = MAP_SHARED;
		break;
	default: break;
	}
	if (c->backing == B_THP) {
		/* 2 MiB aligned: over-map, then trim */
		uint8_t *raw = mmap(NULL, len + HUGE_2M, prot, flags, -1, 0);
		if (raw == MAP_FAILED)
			goto fail;
		uint8_t *al = (uint8_t *)(((uintptr_t)raw + HUGE_2M - 1) & ~(HUGE_2M - 1));
		if (al > raw)
			munmap(raw, al - raw);
		munmap(al + len, raw + len + HUGE_2M - al - len);
		madvise(al, len, MADV_HUGEPAGE);
		p = al;
	} else {
		p = mmap(NULL, len, prot, flags, fd, off);
		if (p == MAP_FAILED)
			goto fail;
	}
	if (fd >= 0)
		close(fd);
	pthread_mutex_lock(&lock);
	struct region *slot = &regions[c->slot % MAX_REGIONS];
	struct region old = *slot;
	*slot = (struct region){ (uintptr_t)p, len, c->backing, 1 };
	pthread_mutex_unlock(&lock);
	if (old.live)
		munmap((void *)(uintptr_t)old.addr, old.len);
	return 0;
fail:
	{
		int e = errno;
		if (fd >= 0)
			close(fd);
		errno = e;
	}
	return -1;
}

static void touch(const struct region *r, uint64_t a, int write)
{
	volatile uint8_t *p = (volatile uint8_t *)(uintptr_t)r->addr;
	uint64_t step = r->len / 8 ? r->len / 8 : 1;

	fault_armed = 1;
	if (!sigsetjmp(fault_jmp, 1)) {
		for (uint64_t o = a % PAGE; o < r->len; o += step) {
			if (write)
				p[o] = (uint8_t)a;
			else
				(void)p[o];
		}
	}
	fault_armed = 0;
}

static long call_once(struct thread *t, const struct call *c);

static long mem_op(struct thread *t, const struct call *c)
{
	struct region r;
	unsigned k = c->slot % MAX_REGIONS;

	if (c->op == OP_MAP)
		return map_region(c);
	if (c->op == OP_REOPEN) {
		/*
		 * The new file takes the old one's descriptor number with dup3,
		 * which swaps them atomically: another thread's ioctl meets the
		 * old file or the new one, never a closed number (EBADF) or a
		 * number some other open reused in between.
		 */
		int nfd = open(dev_path, O_RDWR | O_CLOEXEC);
		if (nfd < 0)
			return -1;
		int fd = __atomic_load_n(&dev_fd, __ATOMIC_RELAXED);
		long ret = dup3(nfd, fd, O_CLOEXEC);
		close(nfd);
		if (ret < 0)
			return -1;
		/* the old file's handles are stale now: keep them as such */
		pthread_mutex_lock(&lock);
		for (int i = 0; i < nr_handles && nr_dead < MAX_HANDLES; i++)
			dead_handles[nr_dead++] = handles[i];
		nr_handles = 0;
		pthread_mutex_unlock(&lock);
		return 0;
	}
	if (c->op == OP_FORK) {
		pid_t pid = fork();
		if (pid < 0)
			return -1;
		if (pid == 0) {
			/* another thread may have held the lock at fork(): the child's copy starts free */
			pthread_mutex_init(&lock, NULL);
			/* The child calls on the inherited file with its own copy of the mm, then exits. */
			uint64_t rng = c->d;
			for (int i = 0; i < (int)(c->a % 8); i++) {
				struct call cc;
				draw(&rng, &cc);
				if (cc.op == OP_FORK || cc.op == OP_REOPEN)
					continue;
				call_once(t, &cc);
			}
			_exit(0);
		}
		int st;
		while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
			;
		return 0;
	}
	pthread_mutex_lock(&lock);
	r = regions[k];
	if (c->op == OP_MUNMAP || c->op == OP_MREMAP)
		regions[k].live = 0;
	pthread_mutex_unlock(&lock);
	if (!r.live)
		return 0;
	uint64_t off, len;
	range_in(r.len, c->a, c->b, &off, &len);
	uint8_t *p = (uint8_t *)(uintptr_t)r.addr;
	switch (c->op) {
	case OP_MUNMAP:
		return munmap(p, r.len);
	case OP_MPROTECT: {
		static const int prots[] = { PROT_NONE, PROT_READ, PROT_READ | PROT_WRITE };
		return mprotect(p + off, len, prots[c->c % 3]);
	}
	case OP_DONTNEED:
		return madvise(p + off, len, MADV_DONTNEED);
	case OP_MREMAP: {
		uint64_t nlen = (c->c & 1) && r.len < (8ull << 20) ? r.len * 2 : r.len;
		void *q = mremap(p, r.len, nlen, MREMAP_MAYMOVE);
		if (q == MAP_FAILED) {
			int e = errno;
			munmap(p, r.len);
			errno = e;
			return -1;
		}
		pthread_mutex_lock(&lock);
		struct region old = regions[k];
		regions[k] = (struct region){ (uintptr_t)q, nlen, r.backing, 1 };
		pthread_mutex_unlock(&lock);
		if (old.live)
			munmap((void *)(uintptr_t)old.addr, old.len);
		return 0;
	}
	case OP_TOUCH:
		touch(&r, c->a, c->b & 1);
		return 0;
	default:
		return 0;
	}
}

static long call_once(struct thread *t, const struct call *c)
{
	return c->op >= OP_MAP ? mem_op(t, c) : do_ioctl(t, c);
}

/* ---- kernel reports seen through /dev/kmsg ---- */
static const char *const report_words[] = {
	"WARNING:", "BUG:", "kernel BUG at", "Oops", "general protection fault", "KASAN:", "UBSAN:",
	"possible circular locking dependency", "inconsistent lock state", "possible recursive locking",
	"suspicious RCU usage", "bad unlock balance", "list_add corruption", "list_del corruption",
};

static int check_kmsg(struct thread *t, uint64_t index)
{
	char rec[2048];
	int found = 0;
	ssize_t n;

	if (kmsg_fd < 0)
		return 0;
	pthread_mutex_lock(&lock);
	while ((n = read(kmsg_fd, rec, sizeof(rec) - 1)) > 0 || (n < 0 && errno == EPIPE)) {
		if (n <= 0)
			continue; /* EPIPE: records overwritten, carry on from the next */
		rec[n] = 0;
		char *msg = strchr(rec, ';');
		msg = msg ? msg + 1 : rec;
		char *nl = strchr(msg, '\n');
		if (nl)
			*nl = 0;
		for (unsigned i = 0; i < sizeof(report_words) / sizeof(report_words[0]); i++) {
			if (strstr(msg, report_words[i])) {
				printf("report thread=%d call=%llu seed=%llu %s\n", t->id, (unsigned long long)index,
				       (unsigned long long)seed, msg);
				found = 1;
				break;
			}
		}
	}
	if (found) {
		/* this thread's last calls, oldest first, in the form --corpus reads back */
		unsigned n = t->nr_recent < 64 ? t->nr_recent : 64;

		for (unsigned k = t->nr_recent - n; k < t->nr_recent; k++) {
			char line[256];

			format_call(line, sizeof(line), t->id, t->recent_index[k % 64], &t->recent[k % 64]);
			printf("recent %s\n", line);
		}
		fflush(stdout);
	}
	pthread_mutex_unlock(&lock);
	return found;
}

/* KCOV for this thread: kcov traces the task that enables it. */
static void kcov_setup(struct thread *t)
{
	const char *what = "open";

	t->kcov_fd = open(KCOV_PATH, O_RDWR | O_CLOEXEC);
	if (t->kcov_fd >= 0) {
		what = "KCOV_INIT_TRACE";
		if (!ioctl(t->kcov_fd, KCOV_INIT_TRACE, (unsigned long)KCOV_WORDS)) {
			what = "mmap";
			t->kcov_area = mmap(NULL, KCOV_WORDS * sizeof(unsigned long), PROT_READ | PROT_WRITE,
					    MAP_SHARED, t->kcov_fd, 0);
			if (t->kcov_area != MAP_FAILED) {
				what = "KCOV_ENABLE";
				if (!ioctl(t->kcov_fd, KCOV_ENABLE, KCOV_TRACE_PC))
					return;
			}
		}
	}
	fprintf(stderr, "mlfuzz: thread %d: %s %s: %s\n", t->id, what, KCOV_PATH, strerror(errno));
	exit(1);
}

static void *run_thread(void *arg)
{
	struct thread *t = arg;
	/* --calls split over the threads, the first ones taking the remainder */
	uint64_t calls = total_calls / nr_threads + ((uint64_t)(t->id - first_thread) < total_calls % nr_threads);
	struct call c;

	if (coverage)
		kcov_setup(t);
	for (uint64_t i = 0; i < calls; i++) {
		next_call(&t->rng, &c);
		t->recent[t->nr_recent % 64] = c;
		t->recent_index[t->nr_recent++ % 64] = i;
		if (dry_run) {
			print_call(stdout, t->id, i, &c);
			continue;
		}
		if (trace) { /* each call before it is made: the last line names a call that hangs */
			print_call(stderr, t->id, i, &c);
			fflush(stderr);
		}
		if (coverage)
			__atomic_store_n(&t->kcov_area[0], 0, __ATOMIC_RELAXED);
		errno = 0;
		long ret = call_once(t, &c);
		int e = ret < 0 ? errno : 0;
		if (coverage)
			cover_end(t->kcov_area, t->id, i, &c);
		t->errs[c.op][e < 135 ? e : 135]++;
		t->done++;
		if ((i + 1) % check_every == 0)
			check_kmsg(t, i);
	}
	if (!dry_run)
		check_kmsg(t, calls ? calls - 1 : 0);
	return NULL;
}

/* ---- setup ---- */
static const char *errno_name(int e)
{
	static char other[16];
	switch (e) {
	case 0: return "ok";
#define E(x) case x: return #x
	E(EPERM); E(ENOENT); E(ESRCH); E(EINTR); E(EIO); E(ENXIO); E(E2BIG); E(EBADF); E(EAGAIN);
	E(ENOMEM); E(EACCES); E(EFAULT); E(EBUSY); E(EEXIST); E(ENODEV); E(EINVAL); E(ENFILE);
	E(EMFILE); E(ENOTTY); E(EFBIG); E(ENOSPC); E(ERANGE); E(ENOSYS); E(EOVERFLOW); E(EOPNOTSUPP);
	E(EHWPOISON);
#undef E
	}
	snprintf(other, sizeof(other), "errno%d", e);
	return other;
}

/* The render node whose DRM_IOCTL_VERSION names mirrordrm. */
static char *find_mirrordrm(void)
{
	static char path[300];
	DIR *d = opendir("/dev/dri");
	struct dirent *e;

	if (!d)
		return NULL;
	while ((e = readdir(d))) {
		if (strncmp(e->d_name, "renderD", 7))
			continue;
		snprintf(path, sizeof(path), "/dev/dri/%s", e->d_name);
		int fd = open(path, O_RDWR | O_CLOEXEC);
		if (fd < 0)
			continue;
		char name[32] = { 0 };
		struct ml_drm_version v = { .name_len = sizeof(name) - 1, .name = name };
		int ok = !ioctl(fd, ML_DRM_IOCTL_VERSION, &v) && !strcmp(name, "mirrordrm");
		close(fd);
		if (ok) {
			closedir(d);
			return path;
		}
	}
	closedir(d);
	return NULL;
}

static void usage(const char *why)
{
	fprintf(stderr, "mlfuzz: %s\nusage: mlfuzz --target mirrordrm|fakevram|test_hmm [--calls N] [--seed S] "
			"[--threads T] [--first-thread K] [--check-every K] [--dry-run] [--trace] [--device PATH] [--coverage] [--corpus FILE]\n", why);
	exit(2);
}

static uint64_t number(const char *opt, const char *s)
{
	char *end;
	errno = 0;
	uint64_t v = strtoull(s, &end, 0);
	if (errno || !*s || *end || *s == '-') {
		char msg[128];
		snprintf(msg, sizeof(msg), "%s needs a non-negative integer, got \"%s\"", opt, s);
		usage(msg);
	}
	return v;
}

int main(int argc, char **argv)
{
	const char *tname = NULL, *device = NULL, *corpus_file = NULL;
	uint64_t calls = 10000;
	struct timespec t0, t1;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(a, "--dry-run")) { dry_run = 1; continue; }
		if (!strcmp(a, "--trace")) { trace = 1; continue; }
		if (!strcmp(a, "--coverage")) { coverage = 1; continue; }
		if (!v) {
			char msg[96];
			snprintf(msg, sizeof(msg), "unknown option or missing value: %s", a);
			usage(msg);
		}
		if (!strcmp(a, "--target")) tname = v;
		else if (!strcmp(a, "--calls")) calls = number(a, v);
		else if (!strcmp(a, "--seed")) seed = number(a, v);
		else if (!strcmp(a, "--threads")) nr_threads = number(a, v) > 64 ? 65 : (int)number(a, v);
		else if (!strcmp(a, "--check-every")) check_every = number(a, v);
		else if (!strcmp(a, "--first-thread")) first_thread = number(a, v) > 63 ? 64 : (int)number(a, v);
		else if (!strcmp(a, "--device")) device = v;
		else if (!strcmp(a, "--corpus")) corpus_file = v;
		else usage("unknown option");
		i++;
	}
	if (!tname)
		usage("--target is required");
	for (target = 0; target <= T_TEST_HMM; target++)
		if (!strcmp(tname, target_names[target]))
			break;
	if (target > T_TEST_HMM)
		usage("unknown --target (mirrordrm, fakevram, test_hmm)");
	if (nr_threads < 1 || nr_threads > 64)
		usage("--threads must be 1 to 64");
	if (first_thread < 0 || first_thread > 63)
		usage("--first-thread must be 0 to 63");
	if (!check_every)
		usage("--check-every must be at least 1");
	total_calls = calls;
	corpus = calloc(MAX_CORPUS, sizeof(*corpus));
	edge_map = calloc(MAP_BITS / 8, 1);
	pc_map = calloc(MAP_BITS / 8, 1);
	if (!corpus || !edge_map || !pc_map)
		return perror("calloc"), 1;
	if (corpus_file)
		load_corpus(corpus_file);
	if (dry_run)
		coverage = 0; /* no kernel answers: only --corpus entries and fresh draws */
	if (coverage && access(KCOV_PATH, R_OK | W_OK)) {
		fprintf(stderr, "mlfuzz: --coverage needs KCOV (CONFIG_KCOV and debugfs): %s: %s\n", KCOV_PATH, strerror(errno));
		return 1;
	}

	if (!dry_run) {
		/*
		 * test_hmm: its DEVICE_COHERENT device by default. On the
		 * DEVICE_PRIVATE one (/dev/hmm_dmirror0, --device) test_hmm itself
		 * Oopses on 7.2 within ~100 calls of seed 1 (docs/fuzz.md): its
		 * fault path stores its own device-private page in the mirror,
		 * which a READ then copies from with memcpy_from_page().
		 */
		static const char *const defaults[] = { NULL, "/dev/fakevram0", "/dev/hmm_dmirror2" };
		dev_path = device ? device : target == T_MIRRORDRM ? find_mirrordrm() : defaults[target];
		if (!dev_path) {
			fprintf(stderr, "mlfuzz: no mirrordrm render node in /dev/dri (is mirrordrm loaded?)\n");
			return 1;
		}
		dev_fd = open(dev_path, O_RDWR | O_CLOEXEC);
		if (dev_fd < 0) {
			fprintf(stderr, "mlfuzz: open %s: %s\n", dev_path, strerror(errno));
			return 1;
		}
		/* The device backing: fakevram's memory when it is loaded, whatever the target. */
		int fv = open("/dev/fakevram0", O_RDWR | O_CLOEXEC);
		if (fv >= 0) {
			struct fakevram_info fi;
			if (!ioctl(fv, FAKEVRAM_IOC_INFO, &fi)) {
				fakevram_path = "/dev/fakevram0";
				fv_size = fi.size;
			}
			close(fv);
		}
		kmsg_fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);
		if (kmsg_fd >= 0)
			lseek(kmsg_fd, 0, SEEK_END); /* reports from now on only */
		struct sigaction sa = { .sa_handler = on_fault, .sa_flags = SA_NODEFER };
		sigaction(SIGSEGV, &sa, NULL);
		sigaction(SIGBUS, &sa, NULL);
		signal(SIGPIPE, SIG_IGN);
	}
	hole_area = mmap(NULL, HOLE_BYTES, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (hole_area == MAP_FAILED)
		return perror("mmap"), 1;
	if (!fv_size)
		fv_size = 64 * HUGE_2M; /* dry run, or no fakevram: ranges are drawn the same way */
	printf("mlfuzz: target %s seed %llu threads %d calls %llu device %s device-backing %s coverage %s\n",
	       target_names[target], (unsigned long long)seed, nr_threads,
	       (unsigned long long)total_calls, dry_run ? "(dry run)" : dev_path,
	       fakevram_path ? fakevram_path : "none", coverage ? "kcov" : "off");
	fflush(stdout);

	struct thread *th = calloc(nr_threads, sizeof(*th));
	if (!th)
		return 1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < nr_threads; i++) {
		/* --first-thread K: the threads are K, K+1...: one of them alone replays its calls */
		th[i].id = first_thread + i;
		th[i].rng = thread_seed(seed, th[i].id);
		th[i].buf = aligned_alloc(PAGE, BUF_BYTES);
		memset(th[i].buf, 0, BUF_BYTES);
		/* dry run: one thread after the other, so the printed sequence is stable */
		if (dry_run)
			run_thread(&th[i]);
		else if (pthread_create(&th[i].tid, NULL, run_thread, &th[i]))
			return perror("pthread_create"), 1;
	}
	if (!dry_run)
		for (int i = 0; i < nr_threads; i++)
			pthread_join(th[i].tid, NULL);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (dry_run)
		return 0;

	uint64_t total = 0;
	for (int op = 0; op < NR_OPS; op++) {
		for (int e = 0; e < 136; e++) {
			uint64_t n = 0;
			for (int i = 0; i < nr_threads; i++)
				n += th[i].errs[op][e];
			if (n)
				printf("errno %s %s %llu\n", op_names[op], errno_name(e), (unsigned long long)n);
		}
	}
	for (int i = 0; i < nr_threads; i++)
		total += th[i].done;
	/* Close everything: the modules must unload afterwards. */
	for (int k = 0; k < MAX_REGIONS; k++)
		if (regions[k].live)
			munmap((void *)(uintptr_t)regions[k].addr, regions[k].len);
	close(dev_fd);
	if (coverage)
		printf("coverage edges=%llu pcs=%llu kept=%u corpus=%u loaded=%u full=%llu\n",
		       (unsigned long long)nr_edges, (unsigned long long)nr_pcs, nr_kept, nr_corpus, nr_loaded,
		       (unsigned long long)nr_full);
	printf("done calls=%llu seconds=%.3f threads=%d seed=%llu\n", (unsigned long long)total,
	       (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9, nr_threads,
	       (unsigned long long)seed);
	return 0;
}
