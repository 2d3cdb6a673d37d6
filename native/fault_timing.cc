// Fault timing: a touch loop that records one latency sample per touch and
// counts the faults the loop caused.
//
//   faultRun(spec)            fresh mapping per repetition (mmap + alignment +
//                             madvise list), then the timed touch loop, then munmap
//   faultTouch(addr, len, stride, write)
//                             one timed pass over an existing range
//   clockOverhead(n)          n back-to-back clock_gettime pairs (the floor of
//                             every sample)
//   perfProbe()               can this thread open a page-fault counter?
//   clearTiming(addr, len, passes, method, chunk)
//                             ns per chunk of clearing an already-populated
//                             range (memset or rep stosb): the memory-clearing
//                             bandwidth that bounds every huge-page fault
//   timedMadvise(addr, len, advice)
//                             ns of one madvise call (MADV_COLLAPSE and the like)
//
// Clock: clock_gettime(CLOCK_MONOTONIC) around each single access; the sample
// is the difference in ns and includes one clock read (see clockOverhead).
// Counts: getrusage(RUSAGE_THREAD) ru_minflt/ru_majflt before and after the
// loop, and, where perf_event_open allows it, a group of software counters
// (PERF_COUNT_SW_PAGE_FAULTS, _MIN, _MAJ) for this thread, enabled around the
// loop only. Nothing in the loop can fault except the touched memory: the
// sample buffer is written before the loop starts.
#include "addon.h"
#include "syscall_error.h"

#include <linux/perf_event.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

namespace {

bool g_touched_before;	// a timing loop already ran in this process

inline uint64_t NowNs()
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int PerfOpen(struct perf_event_attr *attr, int group_fd)
{
	return (int)syscall(__NR_perf_event_open, attr, 0 /* this thread */, -1 /* any cpu */,
			    group_fd, PERF_FLAG_FD_CLOEXEC);
}

// A group of three software counters on the calling thread.
struct PerfGroup {
	int fd[3] = {-1, -1, -1};
	int err = 0;		// errno of the failed open, 0 when open
	bool exclude_kernel = false;

	bool Open(bool excl)
	{
		static const uint64_t cfg[3] = {PERF_COUNT_SW_PAGE_FAULTS,
						PERF_COUNT_SW_PAGE_FAULTS_MIN,
						PERF_COUNT_SW_PAGE_FAULTS_MAJ};
		for (int i = 0; i < 3; i++) {
			struct perf_event_attr a;
			memset(&a, 0, sizeof(a));
			a.size = sizeof(a);
			a.type = PERF_TYPE_SOFTWARE;
			a.config = cfg[i];
			a.disabled = i == 0;
			a.exclude_kernel = excl;
			a.exclude_hv = 1;
			a.read_format = PERF_FORMAT_GROUP;
			fd[i] = PerfOpen(&a, i == 0 ? -1 : fd[0]);
			if (fd[i] < 0) {
				err = errno;
				Close();
				return false;
			}
		}
		exclude_kernel = excl;
		err = 0;
		return true;
	}

	// Counting all events needs perf_event_paranoid <= 1 or CAP_PERFMON;
	// with paranoid 2 an unprivileged thread may still count with
	// exclude_kernel (page faults are user-mode events, so counts match).
	bool OpenAny()
	{
		bool ok = Open(false);
		if (!ok) {
			int first = err;
			ok = (first == EACCES || first == EPERM) && Open(true);
			if (!ok)
				err = first;
		}
		if (ok) {
			// One empty cycle: first calls fault in their code and
			// data outside any counted window.
			uint64_t unused[3];
			Start();
			Stop(unused);
		}
		return ok;
	}

	bool IsOpen() const { return fd[0] >= 0; }

	void Start()
	{
		ioctl(fd[0], PERF_EVENT_IOC_RESET, PERF_IOC_FLAG_GROUP);
		ioctl(fd[0], PERF_EVENT_IOC_ENABLE, PERF_IOC_FLAG_GROUP);
	}

	// Written before the counted window opens, so that read() into it
	// cannot fault (a fault there would reach getrusage but not perf).
	struct { uint64_t nr; uint64_t v[3]; } buf;

	bool Stop(uint64_t out[3])
	{
		ioctl(fd[0], PERF_EVENT_IOC_DISABLE, PERF_IOC_FLAG_GROUP);
		if (read(fd[0], &buf, sizeof(buf)) != (ssize_t)sizeof(buf) || buf.nr != 3)
			return false;
		for (int i = 0; i < 3; i++)
			out[i] = buf.v[i];
		return true;
	}

	void Close()
	{
		for (int i = 2; i >= 0; i--) {
			if (fd[i] >= 0)
				close(fd[i]);
			fd[i] = -1;
		}
	}

	~PerfGroup() { Close(); }
};

struct RepResult {
	uint64_t address = 0;
	std::vector<double> samples;
	uint64_t total_ns = 0;
	long minflt = 0, majflt = 0;
	bool perf_ok = false;
	uint64_t perf[3] = {0, 0, 0};
};

// The timed part. `p` is the start of the range; `n` touches `stride` apart.
// mode 0: one access per touch; mode 1: one MADV_POPULATE_WRITE over the
// range (one sample). Returns 0 or the errno of a failed madvise.
int TimedPass(char *p, size_t length, size_t stride, size_t n, bool write, int mode,
	      PerfGroup &perf, RepResult &r)
{
	struct rusage ru0, ru1;
	int err = 0;

	// Fault in everything the counted window writes to before it opens:
	// the sample buffer, the rusage structs and the perf read buffer (a
	// deeper stack than ever before in this thread would otherwise fault
	// inside getrusage or read and add a fault that is not the loop's).
	r.samples.assign(mode == 1 ? 1 : n, 0.0);
	memset(&ru0, 0, sizeof(ru0));
	memset(&ru1, 0, sizeof(ru1));
	memset(&perf.buf, 0, sizeof(perf.buf));
	NowNs();
	getrusage(RUSAGE_THREAD, &ru0);
	if (perf.IsOpen())
		perf.Start();
	uint64_t start = NowNs();
	if (mode == 1) {
		uint64_t t0 = NowNs();
		if (madvise(p, length, MADV_POPULATE_WRITE))
			err = errno;
		uint64_t t1 = NowNs();
		r.samples[0] = (double)(t1 - t0);
	} else if (write) {
		double *s = r.samples.data();
		for (size_t i = 0; i < n; i++) {
			uint64_t t0 = NowNs();
			*(volatile char *)(p + i * stride) = 1;
			uint64_t t1 = NowNs();
			s[i] = (double)(t1 - t0);
		}
	} else {
		double *s = r.samples.data();
		for (size_t i = 0; i < n; i++) {
			uint64_t t0 = NowNs();
			(void)*(volatile char *)(p + i * stride);
			uint64_t t1 = NowNs();
			s[i] = (double)(t1 - t0);
		}
	}
	uint64_t end = NowNs();
	if (perf.IsOpen())
		r.perf_ok = perf.Stop(r.perf);
	getrusage(RUSAGE_THREAD, &ru1);
	r.total_ns = end - start;
	r.minflt = ru1.ru_minflt - ru0.ru_minflt;
	r.majflt = ru1.ru_majflt - ru0.ru_majflt;
	return err;
}

Napi::Object RepToJs(Napi::Env env, RepResult &r)
{
	Napi::Object o = Napi::Object::New(env);
	o.Set("address", Napi::BigInt::New(env, r.address));
	Napi::Float64Array s = Napi::Float64Array::New(env, r.samples.size());
	memcpy(s.Data(), r.samples.data(), r.samples.size() * sizeof(double));
	o.Set("samples", s);
	o.Set("totalNs", Napi::Number::New(env, (double)r.total_ns));
	Napi::Object ru = Napi::Object::New(env);
	ru.Set("minflt", Napi::Number::New(env, (double)r.minflt));
	ru.Set("majflt", Napi::Number::New(env, (double)r.majflt));
	o.Set("rusage", ru);
	if (r.perf_ok) {
		Napi::Object pf = Napi::Object::New(env);
		pf.Set("pageFaults", Napi::Number::New(env, (double)r.perf[0]));
		pf.Set("minor", Napi::Number::New(env, (double)r.perf[1]));
		pf.Set("major", Napi::Number::New(env, (double)r.perf[2]));
		o.Set("perf", pf);
	} else {
		o.Set("perf", env.Null());
	}
	return o;
}

Napi::Object PerfStatus(Napi::Env env, const PerfGroup &perf, bool wanted)
{
	Napi::Object o = Napi::Object::New(env);
	o.Set("available", Napi::Boolean::New(env, perf.IsOpen()));
	if (perf.IsOpen()) {
		o.Set("excludeKernel", Napi::Boolean::New(env, perf.exclude_kernel));
	} else if (!wanted) {
		o.Set("code", Napi::String::New(env, "disabled"));
	} else {
		Napi::Error e = SyscallError(env, perf.err, "perf_event_open");
		o.Set("code", e.Value().Get("code"));
		o.Set("errno", Napi::Number::New(env, -perf.err));
		o.Set("message", e.Value().Get("message"));
	}
	return o;
}

uint64_t GetU64(Napi::Object o, const char *key, uint64_t def)
{
	Napi::Value v = o.Get(key);
	if (v.IsUndefined() || v.IsNull())
		return def;
	if (v.IsBigInt()) {
		bool lossless;
		return v.As<Napi::BigInt>().Uint64Value(&lossless);
	}
	if (v.IsNumber())
		return (uint64_t)v.As<Napi::Number>().Int64Value();
	throw Napi::TypeError::New(o.Env(), std::string("spec.") + key + " must be a number");
}

int64_t GetI64(Napi::Object o, const char *key, int64_t def)
{
	Napi::Value v = o.Get(key);
	if (v.IsUndefined() || v.IsNull())
		return def;
	if (!v.IsNumber())
		throw Napi::TypeError::New(o.Env(), std::string("spec.") + key + " must be a number");
	return v.As<Napi::Number>().Int64Value();
}

// mmap `length` bytes aligned to `align` (a power of two, 0 = no alignment)
// by mapping length + align and trimming both ends. MAP_HUGETLB mappings are
// aligned to their page size by the kernel and are never over-allocated.
void *MapAligned(size_t length, size_t align, int prot, int flags, int fd, off_t off, int *err)
{
	if (!align || (flags & MAP_HUGETLB) || fd >= 0) {
		void *p = mmap(nullptr, length, prot, flags, fd, off);
		*err = p == MAP_FAILED ? errno : 0;
		return p;
	}
	char *raw = (char *)mmap(nullptr, length + align, prot, flags, -1, 0);
	if (raw == MAP_FAILED) {
		*err = errno;
		return MAP_FAILED;
	}
	uintptr_t a = ((uintptr_t)raw + align - 1) & ~(uintptr_t)(align - 1);
	size_t head = a - (uintptr_t)raw;
	size_t tail = align - head;
	if (head)
		munmap(raw, head);
	if (tail)
		munmap((char *)a + length, tail);
	*err = 0;
	return (void *)a;
}

// faultRun(spec) -> { processFirst, perf, reps: [rep...], keptAddress }
// spec: { length, stride, write, repetitions, prot, flags, fd, offset, align,
//         madvise: [advice...], mode (0 touch, 1 MADV_POPULATE_WRITE),
//         keepLast, perf }
Napi::Value FaultRun(const Napi::CallbackInfo &info)
{
	Napi::Env env = info.Env();
	Napi::Object spec = info[0].As<Napi::Object>();
	size_t length = GetU64(spec, "length", 0);
	size_t stride = GetU64(spec, "stride", 4096);
	bool write = spec.Get("write").ToBoolean();
	size_t reps = GetU64(spec, "repetitions", 1);
	int prot = (int)GetI64(spec, "prot", PROT_READ | PROT_WRITE);
	int flags = (int)GetI64(spec, "flags", MAP_PRIVATE | MAP_ANONYMOUS);
	int fd = (int)GetI64(spec, "fd", -1);
	off_t offset = (off_t)GetI64(spec, "offset", 0);
	size_t align = GetU64(spec, "align", 0);
	int mode = (int)GetI64(spec, "mode", 0);
	bool keep_last = spec.Get("keepLast").ToBoolean();
	Napi::Value pv = spec.Get("perf");
	bool want_perf = pv.IsUndefined() ? true : pv.ToBoolean().Value();
	std::vector<int> advice;
	Napi::Value av = spec.Get("madvise");
	if (av.IsArray()) {
		Napi::Array arr = av.As<Napi::Array>();
		for (uint32_t i = 0; i < arr.Length(); i++)
			advice.push_back(arr.Get(i).As<Napi::Number>().Int32Value());
	}
	if (!length || !stride || !reps)
		throw Napi::RangeError::New(env, "length, stride and repetitions must be non-zero");
	if (align & (align - 1))
		throw Napi::RangeError::New(env, "align must be a power of two");
	size_t n = (length + stride - 1) / stride;

	PerfGroup perf;
	if (want_perf)
		perf.OpenAny();
	bool first = !g_touched_before;
	std::vector<RepResult> out(reps);
	uint64_t kept = 0;
	for (size_t rep = 0; rep < reps; rep++) {
		int err;
		char *p = (char *)MapAligned(length, align, prot, flags, fd, offset, &err);
		if (p == MAP_FAILED)
			ThrowSyscallError(env, err, "mmap",
					  {{"length", length}, {"prot", (uint64_t)prot, true},
					   {"flags", (uint64_t)flags, true}, {"fd", (uint64_t)(int64_t)fd, false, true},
					   {"align", align}});
		for (int adv : advice) {
			if (madvise(p, length, adv)) {
				err = errno;
				munmap(p, length);
				ThrowSyscallError(env, err, "madvise",
						  {{"addr", (uint64_t)p, true}, {"length", length},
						   {"advice", (uint64_t)adv}});
			}
		}
		out[rep].address = (uint64_t)p;
		g_touched_before = true;
		err = TimedPass(p, length, stride, n, write, mode, perf, out[rep]);
		if (err) {
			munmap(p, length);
			ThrowSyscallError(env, err, "madvise",
					  {{"addr", (uint64_t)p, true}, {"length", length},
					   {"advice", (uint64_t)MADV_POPULATE_WRITE}});
		}
		if (keep_last && rep == reps - 1)
			kept = (uint64_t)p;
		else
			munmap(p, length);
	}

	Napi::Object res = Napi::Object::New(env);
	res.Set("clock", Napi::String::New(env, "CLOCK_MONOTONIC"));
	res.Set("processFirst", Napi::Boolean::New(env, first));
	res.Set("perf", PerfStatus(env, perf, want_perf));
	Napi::Array arr = Napi::Array::New(env, reps);
	for (size_t i = 0; i < reps; i++)
		arr.Set((uint32_t)i, RepToJs(env, out[i]));
	res.Set("reps", arr);
	res.Set("keptAddress", kept ? (Napi::Value)Napi::BigInt::New(env, kept) : env.Null());
	return res;
}

// faultTouch(addr, length, stride, write, perf) -> { processFirst, perf, reps: [rep] }
Napi::Value FaultTouch(const Napi::CallbackInfo &info)
{
	Napi::Env env = info.Env();
	uint64_t addr = ArgU64(info, 0, "addr");
	uint64_t length = ArgU64(info, 1, "length");
	uint64_t stride = ArgU64(info, 2, "stride");
	bool write = info[3].ToBoolean();
	bool want_perf = info[4].IsUndefined() ? true : info[4].ToBoolean().Value();
	if (!length || !stride)
		throw Napi::RangeError::New(env, "length and stride must be non-zero");
	PerfGroup perf;
	if (want_perf)
		perf.OpenAny();
	bool first = !g_touched_before;
	g_touched_before = true;
	RepResult r;
	r.address = addr;
	TimedPass((char *)addr, length, stride, (length + stride - 1) / stride, write, 0, perf, r);
	Napi::Object res = Napi::Object::New(env);
	res.Set("clock", Napi::String::New(env, "CLOCK_MONOTONIC"));
	res.Set("processFirst", Napi::Boolean::New(env, first));
	res.Set("perf", PerfStatus(env, perf, want_perf));
	Napi::Array arr = Napi::Array::New(env, 1);
	arr.Set(0u, RepToJs(env, r));
	res.Set("reps", arr);
	res.Set("keptAddress", env.Null());
	return res;
}

// clockOverhead(n) -> Float64Array of n empty clock_gettime pair differences.
Napi::Value ClockOverhead(const Napi::CallbackInfo &info)
{
	size_t n = ArgU64(info, 0, "n");
	Napi::Float64Array s = Napi::Float64Array::New(info.Env(), n);
	double *d = s.Data();
	for (size_t i = 0; i < n; i++)
		d[i] = 0;
	for (size_t i = 0; i < n; i++) {
		uint64_t t0 = NowNs();
		uint64_t t1 = NowNs();
		d[i] = (double)(t1 - t0);
	}
	return s;
}

// perfProbe() -> { available, excludeKernel } or { available: false, code, errno, message }
Napi::Value PerfProbe(const Napi::CallbackInfo &info)
{
	PerfGroup perf;
	perf.OpenAny();
	return PerfStatus(info.Env(), perf, true);
}

// clearTiming(addr, length, passes, method, chunk) -> Float64Array of ns,
// one sample per `chunk` bytes cleared (chunk 0: the whole range), passes x
// ceil(length / chunk) samples in range order. method 0: memset(0) from the
// C library; method 1: rep stosb (x86-64 only), the instruction the kernel's
// clear_page_erms uses. The caller populates the range first, so that no
// pass faults. Chunks of a huge page's size make each sample comparable to
// one huge-page fault, and keep a preemption inside one sample.
Napi::Value ClearTiming(const Napi::CallbackInfo &info)
{
	Napi::Env env = info.Env();
	uint64_t addr = ArgU64(info, 0, "addr");
	uint64_t length = ArgU64(info, 1, "length");
	uint64_t passes = ArgU64(info, 2, "passes");
	int64_t method = ArgI64(info, 3, "method");
	uint64_t chunk = info.Length() > 4 ? ArgU64(info, 4, "chunk") : 0;
	if (!addr || !length || !passes)
		throw Napi::RangeError::New(env, "addr, length and passes must be non-zero");
	if (method != 0 && method != 1)
		throw Napi::RangeError::New(env, "method must be 0 (memset) or 1 (rep stosb)");
#if !defined(__x86_64__)
	if (method == 1)
		throw Napi::RangeError::New(env, "rep stosb is x86-64 only");
#endif
	if (!chunk || chunk > length)
		chunk = length;
	uint64_t per_pass = (length + chunk - 1) / chunk;
	Napi::Float64Array s = Napi::Float64Array::New(env, passes * per_pass);
	double *d = s.Data();
	for (uint64_t i = 0; i < passes * per_pass; i++)
		d[i] = 0;
	for (uint64_t i = 0; i < passes; i++) {
		for (uint64_t k = 0; k < per_pass; k++) {
			char *p = (char *)addr + k * chunk;
			size_t n = k == per_pass - 1 ? length - k * chunk : chunk;
			uint64_t t0 = NowNs();
			if (method == 0) {
				memset(p, 0, n);
			} else {
#if defined(__x86_64__)
				void *dst = p;
				size_t cnt = n;
				asm volatile("rep stosb" : "+D"(dst), "+c"(cnt) : "a"(0) : "memory");
#endif
			}
			// The stores must be issued before the clock is read again.
			asm volatile("" : : "r"(p) : "memory");
			uint64_t t1 = NowNs();
			d[i * per_pass + k] = (double)(t1 - t0);
		}
	}
	return s;
}

// timedMadvise(addr, length, advice) -> ns of the one madvise call.
Napi::Value TimedMadvise(const Napi::CallbackInfo &info)
{
	Napi::Env env = info.Env();
	uint64_t addr = ArgU64(info, 0, "addr");
	uint64_t length = ArgU64(info, 1, "length");
	int advice = (int)ArgI64(info, 2, "advice");
	uint64_t t0 = NowNs();
	int rc = madvise((void *)addr, length, advice);
	uint64_t t1 = NowNs();
	if (rc)
		ThrowSyscallError(env, errno, "madvise",
				  {{"addr", addr, true}, {"length", length}, {"advice", (uint64_t)advice}});
	return Napi::Number::New(env, (double)(t1 - t0));
}

// timedMunmap(addr, length) -> ns of the one munmap call (the invalidation
// callbacks of every notifier on the range run inside it).
Napi::Value TimedMunmap(const Napi::CallbackInfo &info)
{
	Napi::Env env = info.Env();
	uint64_t addr = ArgU64(info, 0, "addr");
	uint64_t length = ArgU64(info, 1, "length");
	uint64_t t0 = NowNs();
	int rc = munmap((void *)addr, length);
	uint64_t t1 = NowNs();
	if (rc)
		ThrowSyscallError(env, errno, "munmap", {{"addr", addr, true}, {"length", length}});
	return Napi::Number::New(env, (double)(t1 - t0));
}

} // namespace

void InitFaultTiming(Napi::Env env, Napi::Object exports)
{
	exports.Set("faultRun", Napi::Function::New(env, FaultRun, "faultRun"));
	exports.Set("faultTouch", Napi::Function::New(env, FaultTouch, "faultTouch"));
	exports.Set("clockOverhead", Napi::Function::New(env, ClockOverhead, "clockOverhead"));
	exports.Set("perfProbe", Napi::Function::New(env, PerfProbe, "perfProbe"));
	exports.Set("clearTiming", Napi::Function::New(env, ClearTiming, "clearTiming"));
	exports.Set("timedMadvise", Napi::Function::New(env, TimedMadvise, "timedMadvise"));
	exports.Set("timedMunmap", Napi::Function::New(env, TimedMunmap, "timedMunmap"));
}
