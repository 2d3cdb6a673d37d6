// mirrordrm ioctls (kernel-patches/include/uapi/mirrordrm.h), thin wrappers.
//
// Structures go in as numbers and come back as raw bytes (snapshots, log
// records, counters): the TypeScript layer decodes them with the layout of
// the uapi header.  Calls that can block in the kernel (userptr creation,
// which pins pages and can wait on a userfault; device access, which faults
// pages in) also exist as *Async variants that run on the libuv thread pool
// and return a Promise, so the JavaScript thread stays free to resolve a
// userfault the kernel is waiting on.
#include "addon.h"
#include "drm_core.h"
#include "syscall_error.h"

#include <uapi/mirrordrm.h>

#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <poll.h>
#include <unistd.h>
#include <cerrno>
#include <cstddef>
#include <sched.h>
#include <algorithm>
#include <atomic>
#include <cstring>
#include <map>
#include <string>
#include <thread>
#include <vector>

namespace {

Napi::Value Version(const Napi::CallbackInfo &info)
{
	return DrmVersionOf(info.Env(), ArgFd(info, 0, "fd"));
}

Napi::Value GemClose(const Napi::CallbackInfo &info)
{
	int fd = ArgFd(info, 0, "fd");
	drm_gem_close_abi a{};
	a.handle = (__u32)ArgU64(info, 1, "handle");
	if (int err = DrmIoctl(fd, ML_DRM_IOCTL_GEM_CLOSE, &a))
		ThrowSyscallError(info.Env(), err, "ioctl(DRM_IOCTL_GEM_CLOSE)",
				  {{"fd", (uint64_t)fd}, {"handle", a.handle}});
	return info.Env().Undefined();
}

// --- USERPTR ---------------------------------------------------------------

drm_mirrordrm_userptr UserptrArgs(const Napi::CallbackInfo &info, int *fd)
{
	*fd = ArgFd(info, 0, "fd");
	drm_mirrordrm_userptr a{};
	a.address = ArgU64(info, 1, "address");
	a.size = ArgU64(info, 2, "size");
	a.flags = (__u32)ArgU64(info, 3, "flags");
	return a;
}

Napi::Error UserptrError(Napi::Env env, int err, int fd, const drm_mirrordrm_userptr &a)
{
	return SyscallError(env, err, "ioctl(DRM_IOCTL_MIRRORDRM_USERPTR)",
			    {{"fd", (uint64_t)fd}, {"address", a.address, true},
			     {"size", a.size}, {"flags", a.flags, true}});
}

Napi::Value Userptr(const Napi::CallbackInfo &info)
{
	int fd;
	drm_mirrordrm_userptr a = UserptrArgs(info, &fd);
	if (int err = DrmIoctl(fd, DRM_IOCTL_MIRRORDRM_USERPTR, &a))
		throw UserptrError(info.Env(), err, fd, a);
	return Napi::Number::New(info.Env(), a.handle);
}

class UserptrWorker : public Napi::AsyncWorker {
public:
	UserptrWorker(Napi::Env env, int fd, drm_mirrordrm_userptr a)
		: Napi::AsyncWorker(env, "mirrordrmUserptr"), fd_(fd), a_(a),
		  deferred_(Napi::Promise::Deferred::New(env)) {}
	Napi::Promise Promise() { return deferred_.Promise(); }
	void Execute() override { err_ = DrmIoctl(fd_, DRM_IOCTL_MIRRORDRM_USERPTR, &a_); }
	void OnOK() override
	{
		if (err_)
			deferred_.Reject(UserptrError(Env(), err_, fd_, a_).Value());
		else
			deferred_.Resolve(Napi::Number::New(Env(), a_.handle));
	}
	void OnError(const Napi::Error &e) override { deferred_.Reject(e.Value()); }

private:
	int fd_;
	drm_mirrordrm_userptr a_;
	int err_ = 0;
	Napi::Promise::Deferred deferred_;
};

Napi::Value UserptrAsync(const Napi::CallbackInfo &info)
{
	int fd;
	drm_mirrordrm_userptr a = UserptrArgs(info, &fd);
	auto *w = new UserptrWorker(info.Env(), fd, a);
	Napi::Promise p = w->Promise();
	w->Queue();
	return p;
}

// --- ACCESS ----------------------------------------------------------------
// access(fd, handle, offset, flags, data: Uint8Array) -> { populates, retries }
// accessAddr(fd, handle, offset, length, address, flags): data at a raw address

struct AccessCall {
	int fd;
	drm_mirrordrm_access a;
};

AccessCall AccessArgsBuffer(const Napi::CallbackInfo &info)
{
	AccessCall c{};
	c.fd = ArgFd(info, 0, "fd");
	c.a.handle = (__u32)ArgU64(info, 1, "handle");
	c.a.offset = ArgU64(info, 2, "offset");
	c.a.flags = (__u32)ArgU64(info, 3, "flags");
	if (!info[4].IsTypedArray() ||
	    info[4].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
		Napi::TypeError e = Napi::TypeError::New(info.Env(),
			"The \"data\" argument must be an instance of Uint8Array");
		e.Set("code", Napi::String::New(info.Env(), "ERR_INVALID_ARG_TYPE"));
		throw e;
	}
	Napi::Uint8Array data = info[4].As<Napi::Uint8Array>();
	c.a.data = (uint64_t)(uintptr_t)data.Data();
	c.a.length = data.ByteLength();
	return c;
}

AccessCall AccessArgsAddr(const Napi::CallbackInfo &info)
{
	AccessCall c{};
	c.fd = ArgFd(info, 0, "fd");
	c.a.handle = (__u32)ArgU64(info, 1, "handle");
	c.a.offset = ArgU64(info, 2, "offset");
	c.a.length = ArgU64(info, 3, "length");
	c.a.data = ArgU64(info, 4, "address");
	c.a.flags = (__u32)ArgU64(info, 5, "flags");
	return c;
}

Napi::Error AccessError(Napi::Env env, int err, const AccessCall &c)
{
	return SyscallError(env, err, "ioctl(DRM_IOCTL_MIRRORDRM_ACCESS)",
			    {{"fd", (uint64_t)c.fd}, {"handle", c.a.handle},
			     {"offset", c.a.offset}, {"length", c.a.length},
			     {"data", c.a.data, true}, {"flags", c.a.flags, true}});
}

Napi::Object AccessResult(Napi::Env env, const AccessCall &c)
{
	Napi::Object r = Napi::Object::New(env);
	r.Set("populates", c.a.populates);
	r.Set("retries", c.a.retries);
	return r;
}

Napi::Value AccessSync(const Napi::CallbackInfo &info, AccessCall c)
{
	if (int err = DrmIoctl(c.fd, DRM_IOCTL_MIRRORDRM_ACCESS, &c.a))
		throw AccessError(info.Env(), err, c);
	return AccessResult(info.Env(), c);
}

Napi::Value Access(const Napi::CallbackInfo &info)
{
	return AccessSync(info, AccessArgsBuffer(info));
}

Napi::Value AccessAddr(const Napi::CallbackInfo &info)
{
	return AccessSync(info, AccessArgsAddr(info));
}

class AccessWorker : public Napi::AsyncWorker {
public:
	AccessWorker(Napi::Env env, AccessCall c, Napi::Value keep)
		: Napi::AsyncWorker(env, "mirrordrmAccess"), c_(c),
		  deferred_(Napi::Promise::Deferred::New(env))
	{
		// keeps the data buffer alive (and in place) while the kernel uses it
		if (keep.IsObject())
			keep_ = Napi::Persistent(keep.As<Napi::Object>());
	}
	Napi::Promise Promise() { return deferred_.Promise(); }
	void Execute() override { err_ = DrmIoctl(c_.fd, DRM_IOCTL_MIRRORDRM_ACCESS, &c_.a); }
	void OnOK() override
	{
		if (err_)
			deferred_.Reject(AccessError(Env(), err_, c_).Value());
		else
			deferred_.Resolve(AccessResult(Env(), c_));
	}
	void OnError(const Napi::Error &e) override { deferred_.Reject(e.Value()); }

private:
	AccessCall c_;
	int err_ = 0;
	Napi::Promise::Deferred deferred_;
	Napi::ObjectReference keep_;
};

Napi::Value AccessAsync(const Napi::CallbackInfo &info)
{
	AccessCall c = AccessArgsBuffer(info);
	auto *w = new AccessWorker(info.Env(), c, info[4]);
	Napi::Promise p = w->Promise();
	w->Queue();
	return p;
}

Napi::Value AccessAddrAsync(const Napi::CallbackInfo &info)
{
	AccessCall c = AccessArgsAddr(info);
	auto *w = new AccessWorker(info.Env(), c, info.Env().Undefined());
	Napi::Promise p = w->Promise();
	w->Queue();
	return p;
}

// --- SNAPSHOT, INVAL_READ, STATS, SET_BEHAVIOUR ----------------------------

// snapshot(fd, handle, firstPage, count) -> Buffer of count struct drm_mirrordrm_page
Napi::Value Snapshot(const Napi::CallbackInfo &info)
{
	int fd = ArgFd(info, 0, "fd");
	drm_mirrordrm_snapshot a{};
	a.handle = (__u32)ArgU64(info, 1, "handle");
	a.first_page = ArgU64(info, 2, "firstPage");
	a.count = ArgU64(info, 3, "count");
	if (a.count > (1ull << 24))
		ThrowSyscallError(info.Env(), EINVAL, "ioctl(DRM_IOCTL_MIRRORDRM_SNAPSHOT)",
				  {{"count", a.count}});
	Napi::Buffer<uint8_t> out = Napi::Buffer<uint8_t>::New(
		info.Env(), (size_t)a.count * sizeof(drm_mirrordrm_page));
	a.pages = (uint64_t)(uintptr_t)out.Data();
	if (int err = DrmIoctl(fd, DRM_IOCTL_MIRRORDRM_SNAPSHOT, &a))
		ThrowSyscallError(info.Env(), err, "ioctl(DRM_IOCTL_MIRRORDRM_SNAPSHOT)",
				  {{"fd", (uint64_t)fd}, {"handle", a.handle},
				   {"firstPage", a.first_page}, {"count", a.count}});
	return out;
}

// invalRead(fd, max) -> { records: Buffer, count, lost, lostTotal, pending }
Napi::Value InvalRead(const Napi::CallbackInfo &info)
{
	Napi::Env env = info.Env();
	int fd = ArgFd(info, 0, "fd");
	uint64_t max = ArgU64(info, 1, "max");
	if (max > 4096)
		max = 4096;
	std::vector<drm_mirrordrm_inval_record> recs(max ? max : 1);
	drm_mirrordrm_inval_read a{};
	a.records = (uint64_t)(uintptr_t)recs.data();
	a.count = (__u32)max;
	if (info.Length() > 2)
		a.flags = (__u32)ArgU64(info, 2, "flags");
	if (int err = DrmIoctl(fd, DRM_IOCTL_MIRRORDRM_INVAL_READ, &a))
		ThrowSyscallError(env, err, "ioctl(DRM_IOCTL_MIRRORDRM_INVAL_READ)",
				  {{"fd", (uint64_t)fd}, {"count", max}, {"flags", a.flags, true}});
	Napi::Object r = Napi::Object::New(env);
	r.Set("records", Napi::Buffer<uint8_t>::Copy(env, (const uint8_t *)recs.data(),
						     a.count * sizeof(drm_mirrordrm_inval_record)));
	r.Set("count", a.count);
	r.Set("lost", Napi::BigInt::New(env, (uint64_t)a.lost));
	r.Set("lostTotal", Napi::BigInt::New(env, (uint64_t)a.lost_total));
	r.Set("pending", Napi::Number::New(env, (double)a.pending));
	return r;
}

// stats(fd, handle) -> Buffer (the kernel's struct drm_mirrordrm_counters)
Napi::Value Stats(const Napi::CallbackInfo &info)
{
	int fd = ArgFd(info, 0, "fd");
	drm_mirrordrm_counters c{};
	drm_mirrordrm_stats a{};
	a.handle = (__u32)ArgU64(info, 1, "handle");
	a.counters = (uint64_t)(uintptr_t)&c;
	a.size = sizeof(c);
	if (int err = DrmIoctl(fd, DRM_IOCTL_MIRRORDRM_STATS, &a))
		ThrowSyscallError(info.Env(), err, "ioctl(DRM_IOCTL_MIRRORDRM_STATS)",
				  {{"fd", (uint64_t)fd}, {"handle", a.handle}});
	size_t n = a.size < sizeof(c) ? a.size : sizeof(c);
	return Napi::Buffer<uint8_t>::Copy(info.Env(), (const uint8_t *)&c, n);
}

Napi::Value SetBehaviour(const Napi::CallbackInfo &info)
{
	int fd = ArgFd(info, 0, "fd");
	drm_mirrordrm_behaviour a{};
	a.handle = (__u32)ArgU64(info, 1, "handle");
	a.flags = (__u32)ArgU64(info, 2, "flags");
	a.fence_wait_ns = ArgU64(info, 3, "fenceWaitNs");
	a.populate_delay_ns = info.Length() > 4 ? ArgU64(info, 4, "populateDelayNs") : 0;
	if (int err = DrmIoctl(fd, DRM_IOCTL_MIRRORDRM_SET_BEHAVIOUR, &a))
		ThrowSyscallError(info.Env(), err, "ioctl(DRM_IOCTL_MIRRORDRM_SET_BEHAVIOUR)",
				  {{"fd", (uint64_t)fd}, {"handle", a.handle},
				   {"flags", a.flags, true}, {"fenceWaitNs", a.fence_wait_ns},
				   {"populateDelayNs", a.populate_delay_ns}});
	return info.Env().Undefined();
}

// ioctl(fd, request, buffer): any request with a caller-built argument, for
// tests of malformed structures; returns 0 or throws with the errno.
Napi::Value RawIoctl(const Napi::CallbackInfo &info)
{
	int fd = ArgFd(info, 0, "fd");
	uint64_t req = ArgU64(info, 1, "request");
	void *arg = nullptr;
	if (info[2].IsBuffer())
		arg = info[2].As<Napi::Buffer<uint8_t>>().Data();
	else if (!info[2].IsNull() && !info[2].IsUndefined())
		arg = (void *)(uintptr_t)ArgU64(info, 2, "arg");
	if (int err = DrmIoctl(fd, (unsigned long)req, arg))
		ThrowSyscallError(info.Env(), err, "ioctl",
				  {{"fd", (uint64_t)fd}, {"request", req, true}});
	return Napi::Number::New(info.Env(), 0);
}

// --- measurement loops (hot loops stay in C++) -------------------------------

uint64_t NowNs()
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

// timeUserptr(fd, address, size, flags, reps) -> BigUint64Array: ns of each
// USERPTR ioctl; each object is closed (untimed) before the next.
Napi::Value TimeUserptr(const Napi::CallbackInfo &info)
{
	int fd = ArgFd(info, 0, "fd");
	drm_mirrordrm_userptr a{};
	a.address = ArgU64(info, 1, "address");
	a.size = ArgU64(info, 2, "size");
	a.flags = (__u32)ArgU64(info, 3, "flags");
	uint64_t reps = ArgU64(info, 4, "reps");
	Napi::BigUint64Array out = Napi::BigUint64Array::New(info.Env(), reps);
	for (uint64_t i = 0; i < reps; i++) {
		drm_mirrordrm_userptr c = a;
		uint64_t t0 = NowNs();
		int err = DrmIoctl(fd, DRM_IOCTL_MIRRORDRM_USERPTR, &c);
		uint64_t t1 = NowNs();
		if (err)
			throw UserptrError(info.Env(), err, fd, a);
		drm_gem_close_abi g{c.handle, 0};
		DrmIoctl(fd, ML_DRM_IOCTL_GEM_CLOSE, &g);
		out[i] = t1 - t0;
	}
	return out;
}

// timeAccess(fd, handle, offset, length, flags, reps, advice, adviseAddr, adviseLen)
// -> BigUint64Array: ns of each ACCESS ioctl into a scratch buffer. With
// advice >= 0, madvise(adviseAddr, adviseLen, advice) runs (untimed) before
// each access, so every access first revalidates the device view.
Napi::Value TimeAccess(const Napi::CallbackInfo &info)
{
	int fd = ArgFd(info, 0, "fd");
	AccessCall c{};
	c.fd = fd;
	c.a.handle = (__u32)ArgU64(info, 1, "handle");
	c.a.offset = ArgU64(info, 2, "offset");
	c.a.length = ArgU64(info, 3, "length");
	c.a.flags = (__u32)ArgU64(info, 4, "flags");
	uint64_t reps = ArgU64(info, 5, "reps");
	int advice = (int)ArgI64(info, 6, "advice");
	uint64_t aaddr = ArgU64(info, 7, "adviseAddr");
	uint64_t alen = ArgU64(info, 8, "adviseLen");
	std::vector<uint8_t> scratch(c.a.length);
	c.a.data = (uint64_t)(uintptr_t)scratch.data();
	Napi::BigUint64Array out = Napi::BigUint64Array::New(info.Env(), reps);
	for (uint64_t i = 0; i < reps; i++) {
		if (advice >= 0 && madvise((void *)aaddr, alen, advice))
			ThrowSyscallError(info.Env(), errno, "madvise",
					  {{"addr", aaddr, true}, {"length", alen}, {"advice", (uint64_t)advice}});
		drm_mirrordrm_access a = c.a;
		uint64_t t0 = NowNs();
		int err = DrmIoctl(fd, DRM_IOCTL_MIRRORDRM_ACCESS, &a);
		uint64_t t1 = NowNs();
		if (err)
			throw AccessError(info.Env(), err, c);
		out[i] = t1 - t0;
	}
	return out;
}

// --- device memory: MIGRATE, EXCLUSIVE, DEVICE_INFO -------------------------

// migrate(fd, handle, offset, length, flags) -> { migrated, compound, skipped }.
// On failure (ENOSPC when device memory ran out part way) the Error carries
// the same counts: the kernel copies them back either way.
Napi::Value Migrate(const Napi::CallbackInfo &info)
{
	Napi::Env env = info.Env();
	int fd = ArgFd(info, 0, "fd");
	drm_mirrordrm_migrate a{};
	a.handle = (__u32)ArgU64(info, 1, "handle");
	a.offset = ArgU64(info, 2, "offset");
	a.length = ArgU64(info, 3, "length");
	a.flags = (__u32)ArgU64(info, 4, "flags");
	if (int err = DrmIoctl(fd, DRM_IOCTL_MIRRORDRM_MIGRATE, &a))
		ThrowSyscallError(env, err, "ioctl(DRM_IOCTL_MIRRORDRM_MIGRATE)",
				  {{"fd", (uint64_t)fd}, {"handle", a.handle},
				   {"offset", a.offset}, {"length", a.length},
				   {"flags", a.flags, true}, {"migrated", a.migrated},
				   {"compound", a.compound}, {"skipped", a.skipped}});
	Napi::Object r = Napi::Object::New(env);
	r.Set("migrated", Napi::Number::New(env, (double)a.migrated));
	r.Set("compound", Napi::Number::New(env, (double)a.compound));
	r.Set("skipped", Napi::Number::New(env, (double)a.skipped));
	return r;
}

// exclusive(fd, handle, offset, length) -> pages made exclusive
Napi::Value Exclusive(const Napi::CallbackInfo &info)
{
	int fd = ArgFd(info, 0, "fd");
	drm_mirrordrm_exclusive a{};
	a.handle = (__u32)ArgU64(info, 1, "handle");
	a.offset = ArgU64(info, 2, "offset");
	a.length = ArgU64(info, 3, "length");
	if (int err = DrmIoctl(fd, DRM_IOCTL_MIRRORDRM_EXCLUSIVE, &a))
		ThrowSyscallError(info.Env(), err, "ioctl(DRM_IOCTL_MIRRORDRM_EXCLUSIVE)",
				  {{"fd", (uint64_t)fd}, {"handle", a.handle},
				   {"offset", a.offset}, {"length", a.length},
				   {"pages", a.pages}});
	return Napi::Number::New(info.Env(), (double)a.pages);
}

// deviceInfo(fd) -> raw struct drm_mirrordrm_device_info
Napi::Value DeviceInfo(const Napi::CallbackInfo &info)
{
	int fd = ArgFd(info, 0, "fd");
	drm_mirrordrm_device_info a{};
	if (int err = DrmIoctl(fd, DRM_IOCTL_MIRRORDRM_DEVICE_INFO, &a))
		ThrowSyscallError(info.Env(), err, "ioctl(DRM_IOCTL_MIRRORDRM_DEVICE_INFO)",
				  {{"fd", (uint64_t)fd}});
	return Napi::Buffer<uint8_t>::Copy(info.Env(), (const uint8_t *)&a, sizeof(a));
}

// timeMigrate(fd, handle, offset, length, flags, reps) -> BigUint64Array of
// 2 * reps ns: [to device, back to RAM] per round, each a whole MIGRATE call.
// A round that moves fewer pages than the range holds throws, so a figure
// never describes a partial migration.
Napi::Value TimeMigrate(const Napi::CallbackInfo &info)
{
	Napi::Env env = info.Env();
	int fd = ArgFd(info, 0, "fd");
	drm_mirrordrm_migrate base{};
	base.handle = (__u32)ArgU64(info, 1, "handle");
	base.offset = ArgU64(info, 2, "offset");
	base.length = ArgU64(info, 3, "length");
	uint32_t extra = (uint32_t)ArgU64(info, 4, "flags");
	uint64_t reps = ArgU64(info, 5, "reps");
	uint64_t pages = base.length / 4096;
	Napi::BigUint64Array out = Napi::BigUint64Array::New(env, 2 * reps);
	for (uint64_t i = 0; i < 2 * reps; i++) {
		drm_mirrordrm_migrate a = base;
		a.flags = extra | ((i & 1) ? MIRRORDRM_MIGRATE_TO_RAM : MIRRORDRM_MIGRATE_TO_DEVICE);
		uint64_t t0 = NowNs();
		int err = DrmIoctl(fd, DRM_IOCTL_MIRRORDRM_MIGRATE, &a);
		uint64_t t1 = NowNs();
		if (!err && a.migrated != pages)
			err = EAGAIN;
		if (err)
			ThrowSyscallError(env, err, "ioctl(DRM_IOCTL_MIRRORDRM_MIGRATE)",
					  {{"fd", (uint64_t)fd}, {"handle", a.handle},
					   {"offset", a.offset}, {"length", a.length},
					   {"flags", a.flags, true}, {"migrated", a.migrated},
					   {"round", i / 2}});
		out[i] = t1 - t0;
	}
	return out;
}

// --- poll: wait for invalidation records off the JS thread ------------------

class PollWorker : public Napi::AsyncWorker {
public:
	PollWorker(Napi::Env env, int fd, int timeout_ms)
		: Napi::AsyncWorker(env, "mirrordrmPoll"), fd_(fd), timeout_(timeout_ms),
		  deferred_(Napi::Promise::Deferred::New(env)) {}
	Napi::Promise Promise() { return deferred_.Promise(); }
	void Execute() override
	{
		struct pollfd p = {fd_, POLLIN, 0};
		int r;
		do {
			r = poll(&p, 1, timeout_);
		} while (r < 0 && errno == EINTR);
		if (r < 0)
			err_ = errno;
		else
			revents_ = p.revents;
	}
	void OnOK() override
	{
		if (err_)
			deferred_.Reject(SyscallError(Env(), err_, "poll",
						      {{"fd", (uint64_t)fd_}}).Value());
		else
			deferred_.Resolve(Napi::Number::New(Env(), revents_));
	}
	void OnError(const Napi::Error &e) override { deferred_.Reject(e.Value()); }

private:
	int fd_, timeout_;
	int err_ = 0, revents_ = 0;
	Napi::Promise::Deferred deferred_;
};

Napi::Value PollAsync(const Napi::CallbackInfo &info)
{
	int fd = ArgFd(info, 0, "fd");
	int timeout = (int)ArgI64(info, 1, "timeoutMs");
	auto *w = new PollWorker(info.Env(), fd, timeout);
	Napi::Promise p = w->Promise();
	w->Queue();
	return p;
}

// --- accessStorm: device reads from threads pinned to given CPUs -----------
//
// accessStorm(fd, handles, expect, length, cpus, control, maxPerThread)
//   -> Promise<[{ cpu, cpusSeen, accesses, capped, handles: [{ ok, wrong,
//                 errors: { EFAULT: n, ... } }], firstWrong }]>
//
// One thread per entry of cpus, pinned to that CPU with sched_setaffinity();
// each reads bytes [0, length) of every handle in turn through
// DRM_IOCTL_MIRRORDRM_ACCESS until control[0] is non-zero (or it has made
// maxPerThread accesses: a storm never outlives a caller that forgot it).
// A thread that cannot be pinned stops the others; the promise rejects with
// the sched_setaffinity error.
// Per handle it counts the reads whose every byte was expect[i], the reads
// that returned anything else, and the failures by errno name.  control[1]
// is the number of accesses made so far by all threads, so that the caller
// can wait for the storm to be under way before changing the mapping, and
// for it to go on past that change.  cpusSeen lists the CPUs sched_getcpu()
// reported around the accesses: the pinning held if it is [cpu].

struct StormCount {
	uint64_t ok = 0, wrong = 0;
	std::map<std::string, uint64_t> errors;
};

struct StormThread {
	int cpu = 0;
	int setup_err = 0;
	uint64_t cpus_seen = 0;		// bit n: sched_getcpu() returned n
	uint64_t accesses = 0;
	bool capped = false;
	std::vector<StormCount> per_handle;
	std::string first_wrong;
};

static std::string StormErrnoName(int err)
{
	const char *name = strerrorname_np(err);
	return name ? name : "E" + std::to_string(err);
}

class StormWorker : public Napi::AsyncWorker {
public:
	StormWorker(Napi::Env env, int fd, std::vector<uint32_t> handles,
		    std::vector<uint8_t> expect, uint64_t length, std::vector<int> cpus,
		    Napi::Int32Array control, uint64_t max_per_thread)
		: Napi::AsyncWorker(env, "mirrordrmAccessStorm"), fd_(fd),
		  handles_(std::move(handles)), expect_(std::move(expect)), length_(length),
		  control_data_(control.Data()), max_(max_per_thread),
		  deferred_(Napi::Promise::Deferred::New(env))
	{
		// keeps the control array alive (and in place) while the threads poll it
		control_ = Napi::Persistent(control.As<Napi::Object>());
		threads_.resize(cpus.size());
		for (size_t i = 0; i < cpus.size(); i++) {
			threads_[i].cpu = cpus[i];
			threads_[i].per_handle.resize(handles_.size());
		}
	}
	Napi::Promise Promise() { return deferred_.Promise(); }

	void Execute() override
	{
		std::vector<std::thread> running;
		for (StormThread &t : threads_)
			running.emplace_back([this, &t] { Run(t); });
		for (std::thread &r : running)
			r.join();
	}

	void OnOK() override
	{
		Napi::Env env = Env();
		for (const StormThread &t : threads_)
			if (t.setup_err) {
				deferred_.Reject(SyscallError(env, t.setup_err, "sched_setaffinity",
							      {{"cpu", (uint64_t)t.cpu}}).Value());
				return;
			}
		Napi::Array out = Napi::Array::New(env, threads_.size());
		for (size_t i = 0; i < threads_.size(); i++) {
			const StormThread &t = threads_[i];
			Napi::Object o = Napi::Object::New(env);
			o.Set("cpu", Napi::Number::New(env, t.cpu));
			Napi::Array seen = Napi::Array::New(env);
			for (int c = 0; c < 64; c++)
				if (t.cpus_seen & (1ull << c))
					seen.Set(seen.Length(), Napi::Number::New(env, c));
			o.Set("cpusSeen", seen);
			o.Set("accesses", Napi::Number::New(env, (double)t.accesses));
			o.Set("capped", Napi::Boolean::New(env, t.capped));
			Napi::Array per = Napi::Array::New(env, t.per_handle.size());
			for (size_t h = 0; h < t.per_handle.size(); h++) {
				const StormCount &c = t.per_handle[h];
				Napi::Object p = Napi::Object::New(env);
				p.Set("ok", Napi::Number::New(env, (double)c.ok));
				p.Set("wrong", Napi::Number::New(env, (double)c.wrong));
				Napi::Object errors = Napi::Object::New(env);
				for (const auto &[name, n] : c.errors)
					errors.Set(name, Napi::Number::New(env, (double)n));
				p.Set("errors", errors);
				per.Set(h, p);
			}
			o.Set("handles", per);
			o.Set("firstWrong", Napi::String::New(env, t.first_wrong));
			out.Set(i, o);
		}
		deferred_.Resolve(out);
	}
	void OnError(const Napi::Error &e) override { deferred_.Reject(e.Value()); }

private:
	void NoteCpu(StormThread &t)
	{
		int c = sched_getcpu();
		if (c >= 0 && c < 64)
			t.cpus_seen |= 1ull << c;
	}

	void Run(StormThread &t)
	{
		cpu_set_t set;
		CPU_ZERO(&set);
		CPU_SET(t.cpu, &set);
		if (sched_setaffinity(0, sizeof(set), &set)) {
			t.setup_err = errno;
			// the call fails: the other threads stop too, not at their cap
			failed_.store(true, std::memory_order_release);
			return;
		}
		std::vector<uint8_t> buf(length_);
		std::atomic_ref<int32_t> stop(control_data_[0]);
		std::atomic_ref<int32_t> progress(control_data_[1]);
		for (;;) {
			for (size_t i = 0; i < handles_.size(); i++) {
				StormCount &c = t.per_handle[i];
				// not the expected byte: a read that copies nothing is caught
				memset(buf.data(), (uint8_t)~expect_[i], length_);
				drm_mirrordrm_access a{};
				a.handle = handles_[i];
				a.flags = MIRRORDRM_ACCESS_READ;
				a.offset = 0;
				a.length = length_;
				a.data = (uint64_t)(uintptr_t)buf.data();
				NoteCpu(t);
				int err = DrmIoctl(fd_, DRM_IOCTL_MIRRORDRM_ACCESS, &a);
				NoteCpu(t);
				t.accesses++;
				progress.fetch_add(1, std::memory_order_relaxed);
				if (err) {
					c.errors[StormErrnoName(err)]++;
					continue;
				}
				const uint8_t *bad = std::find_if(buf.begin(), buf.end(),
					[&](uint8_t b) { return b != expect_[i]; }).base();
				if (bad == buf.data() + length_) {
					c.ok++;
					continue;
				}
				c.wrong++;
				if (t.first_wrong.empty()) {
					char s[96];
					snprintf(s, sizeof(s), "handle %u byte %zu: 0x%02x, expected 0x%02x",
						 handles_[i], (size_t)(bad - buf.data()), *bad, expect_[i]);
					t.first_wrong = s;
				}
			}
			if (stop.load(std::memory_order_acquire) ||
			    failed_.load(std::memory_order_acquire))
				return;
			if (t.accesses >= max_) {
				t.capped = true;
				return;
			}
		}
	}

	int fd_;
	std::vector<uint32_t> handles_;
	std::vector<uint8_t> expect_;
	uint64_t length_;
	int32_t *control_data_;
	uint64_t max_;
	std::atomic<bool> failed_{false};	// a thread could not be pinned
	std::vector<StormThread> threads_;
	Napi::ObjectReference control_;
	Napi::Promise::Deferred deferred_;
};

Napi::Value AccessStorm(const Napi::CallbackInfo &info)
{
	Napi::Env env = info.Env();
	int fd = ArgFd(info, 0, "fd");
	auto invalid = [&](const char *what) {
		Napi::TypeError e = Napi::TypeError::New(env, what);
		e.Set("code", Napi::String::New(env, "ERR_INVALID_ARG_TYPE"));
		throw e;
	};
	if (!info[1].IsArray())
		invalid("The \"handles\" argument must be an array of GEM handles");
	Napi::Array ha = info[1].As<Napi::Array>();
	std::vector<uint32_t> handles;
	for (uint32_t i = 0; i < ha.Length(); i++) {
		Napi::Value v = ha.Get(i);
		if (!v.IsNumber())
			invalid("The \"handles\" argument must be an array of GEM handles");
		handles.push_back(v.As<Napi::Number>().Uint32Value());
	}
	if (!info[2].IsTypedArray() || info[2].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array)
		invalid("The \"expect\" argument must be a Uint8Array");
	Napi::Uint8Array ex = info[2].As<Napi::Uint8Array>();
	if (handles.empty() || ex.ElementLength() != handles.size())
		invalid("The \"expect\" argument must hold one byte per handle (at least one)");
	std::vector<uint8_t> expect(ex.Data(), ex.Data() + ex.ElementLength());
	uint64_t length = ArgU64(info, 3, "length");
	if (length == 0 || length > (64ull << 20))
		ThrowSyscallError(env, EINVAL, "accessStorm", {{"length", length}});
	if (!info[4].IsArray())
		invalid("The \"cpus\" argument must be an array of CPU numbers");
	Napi::Array ca = info[4].As<Napi::Array>();
	std::vector<int> cpus;
	for (uint32_t i = 0; i < ca.Length(); i++) {
		Napi::Value v = ca.Get(i);
		if (!v.IsNumber() || v.As<Napi::Number>().Int32Value() < 0 ||
		    v.As<Napi::Number>().Int32Value() >= CPU_SETSIZE)
			invalid("The \"cpus\" argument must be an array of CPU numbers");
		cpus.push_back(v.As<Napi::Number>().Int32Value());
	}
	if (cpus.empty() || cpus.size() > 64)
		invalid("The \"cpus\" argument must name 1 to 64 CPUs");
	if (!info[5].IsTypedArray() || info[5].As<Napi::TypedArray>().TypedArrayType() != napi_int32_array ||
	    info[5].As<Napi::Int32Array>().ElementLength() < 2)
		invalid("The \"control\" argument must be an Int32Array of 2 elements ([stop, progress])");
	uint64_t max = ArgU64(info, 6, "maxPerThread");
	auto *w = new StormWorker(env, fd, std::move(handles), std::move(expect), length,
				  std::move(cpus), info[5].As<Napi::Int32Array>(), max);
	Napi::Promise p = w->Promise();
	w->Queue();
	return p;
}

// sizeof and offsetof of the uapi structures, so that the TypeScript decoders
// take their layout from the header the kernel module is built with.
Napi::Object Layout(Napi::Env env)
{
	Napi::Object l = Napi::Object::New(env);
	Napi::Object o;
#define STRUCT(s) \
	o = Napi::Object::New(env); \
	l.Set(#s, o); \
	o.Set("sizeof", Napi::Number::New(env, (double)sizeof(struct s)))
#define FIELD(s, f) o.Set(#f, Napi::Number::New(env, (double)offsetof(struct s, f)))
	STRUCT(drm_mirrordrm_userptr);
	FIELD(drm_mirrordrm_userptr, address); FIELD(drm_mirrordrm_userptr, size);
	FIELD(drm_mirrordrm_userptr, flags); FIELD(drm_mirrordrm_userptr, handle);
	STRUCT(drm_mirrordrm_access);
	FIELD(drm_mirrordrm_access, handle); FIELD(drm_mirrordrm_access, flags);
	FIELD(drm_mirrordrm_access, offset); FIELD(drm_mirrordrm_access, length);
	FIELD(drm_mirrordrm_access, data); FIELD(drm_mirrordrm_access, populates);
	FIELD(drm_mirrordrm_access, retries);
	STRUCT(drm_mirrordrm_page);
	FIELD(drm_mirrordrm_page, dev_pfn); FIELD(drm_mirrordrm_page, cpu_pfn);
	FIELD(drm_mirrordrm_page, dev_flags); FIELD(drm_mirrordrm_page, cpu_flags);
	STRUCT(drm_mirrordrm_snapshot);
	FIELD(drm_mirrordrm_snapshot, handle); FIELD(drm_mirrordrm_snapshot, flags);
	FIELD(drm_mirrordrm_snapshot, first_page); FIELD(drm_mirrordrm_snapshot, count);
	FIELD(drm_mirrordrm_snapshot, pages);
	STRUCT(drm_mirrordrm_inval_record);
	FIELD(drm_mirrordrm_inval_record, seq); FIELD(drm_mirrordrm_inval_record, start);
	FIELD(drm_mirrordrm_inval_record, end);
	FIELD(drm_mirrordrm_inval_record, timestamp_ns);
	FIELD(drm_mirrordrm_inval_record, duration_ns);
	FIELD(drm_mirrordrm_inval_record, pages_dropped);
	FIELD(drm_mirrordrm_inval_record, pages_downgraded);
	FIELD(drm_mirrordrm_inval_record, handle); FIELD(drm_mirrordrm_inval_record, event);
	FIELD(drm_mirrordrm_inval_record, flags); FIELD(drm_mirrordrm_inval_record, pid);
	FIELD(drm_mirrordrm_inval_record, owner); FIELD(drm_mirrordrm_inval_record, pad);
	FIELD(drm_mirrordrm_inval_record, finish_ns);
	STRUCT(drm_mirrordrm_inval_read);
	FIELD(drm_mirrordrm_inval_read, records); FIELD(drm_mirrordrm_inval_read, count);
	FIELD(drm_mirrordrm_inval_read, flags); FIELD(drm_mirrordrm_inval_read, lost);
	FIELD(drm_mirrordrm_inval_read, lost_total);
	FIELD(drm_mirrordrm_inval_read, pending);
	STRUCT(drm_mirrordrm_counters);
	FIELD(drm_mirrordrm_counters, objects); FIELD(drm_mirrordrm_counters, pages);
	FIELD(drm_mirrordrm_counters, pages_pinned);
	FIELD(drm_mirrordrm_counters, pages_valid);
	FIELD(drm_mirrordrm_counters, gup_calls); FIELD(drm_mirrordrm_counters, gup_pages);
	FIELD(drm_mirrordrm_counters, hmm_range_fault_calls);
	FIELD(drm_mirrordrm_counters, hmm_range_fault_ebusy);
	FIELD(drm_mirrordrm_counters, read_retry);
	FIELD(drm_mirrordrm_counters, populates);
	FIELD(drm_mirrordrm_counters, revalidations);
	FIELD(drm_mirrordrm_counters, device_accesses);
	FIELD(drm_mirrordrm_counters, device_bytes);
	FIELD(drm_mirrordrm_counters, invalidations);
	FIELD(drm_mirrordrm_counters, would_block);
	FIELD(drm_mirrordrm_counters, pages_dropped);
	FIELD(drm_mirrordrm_counters, pages_downgraded);
	FIELD(drm_mirrordrm_counters, log_lost); FIELD(drm_mirrordrm_counters, by_event);
	FIELD(drm_mirrordrm_counters, pages_to_device);
	FIELD(drm_mirrordrm_counters, pages_to_ram);
	FIELD(drm_mirrordrm_counters, own_migrations);
	STRUCT(drm_mirrordrm_migrate);
	FIELD(drm_mirrordrm_migrate, handle); FIELD(drm_mirrordrm_migrate, flags);
	FIELD(drm_mirrordrm_migrate, offset); FIELD(drm_mirrordrm_migrate, length);
	FIELD(drm_mirrordrm_migrate, migrated); FIELD(drm_mirrordrm_migrate, compound);
	FIELD(drm_mirrordrm_migrate, skipped);
	STRUCT(drm_mirrordrm_exclusive);
	FIELD(drm_mirrordrm_exclusive, handle); FIELD(drm_mirrordrm_exclusive, flags);
	FIELD(drm_mirrordrm_exclusive, offset); FIELD(drm_mirrordrm_exclusive, length);
	FIELD(drm_mirrordrm_exclusive, pages);
	STRUCT(drm_mirrordrm_device_info);
	FIELD(drm_mirrordrm_device_info, index); FIELD(drm_mirrordrm_device_info, owner);
	FIELD(drm_mirrordrm_device_info, caps); FIELD(drm_mirrordrm_device_info, pad);
	FIELD(drm_mirrordrm_device_info, devmem_pages);
	FIELD(drm_mirrordrm_device_info, devmem_free);
	FIELD(drm_mirrordrm_device_info, devmem_pfn);
	FIELD(drm_mirrordrm_device_info, to_device); FIELD(drm_mirrordrm_device_info, to_ram);
	FIELD(drm_mirrordrm_device_info, cpu_faults);
	FIELD(drm_mirrordrm_device_info, fault_pages);
	FIELD(drm_mirrordrm_device_info, folio_frees);
	FIELD(drm_mirrordrm_device_info, folio_splits);
	FIELD(drm_mirrordrm_device_info, thp_allocs);
	FIELD(drm_mirrordrm_device_info, alloc_failures);
	FIELD(drm_mirrordrm_device_info, evicted);
	STRUCT(drm_mirrordrm_stats);
	FIELD(drm_mirrordrm_stats, handle); FIELD(drm_mirrordrm_stats, flags);
	FIELD(drm_mirrordrm_stats, counters); FIELD(drm_mirrordrm_stats, size);
	FIELD(drm_mirrordrm_stats, pad);
	STRUCT(drm_mirrordrm_behaviour);
	FIELD(drm_mirrordrm_behaviour, handle); FIELD(drm_mirrordrm_behaviour, flags);
	FIELD(drm_mirrordrm_behaviour, fence_wait_ns);
	FIELD(drm_mirrordrm_behaviour, populate_delay_ns);
#undef FIELD
#undef STRUCT
	return l;
}

} // namespace

void InitMirrordrm(Napi::Env env, Napi::Object exports)
{
	Napi::Object m = Napi::Object::New(env);
	m.Set("version", Napi::Function::New(env, Version, "version"));
	m.Set("gemClose", Napi::Function::New(env, GemClose, "gemClose"));
	m.Set("userptr", Napi::Function::New(env, Userptr, "userptr"));
	m.Set("userptrAsync", Napi::Function::New(env, UserptrAsync, "userptrAsync"));
	m.Set("access", Napi::Function::New(env, Access, "access"));
	m.Set("accessAsync", Napi::Function::New(env, AccessAsync, "accessAsync"));
	m.Set("accessAddr", Napi::Function::New(env, AccessAddr, "accessAddr"));
	m.Set("accessAddrAsync", Napi::Function::New(env, AccessAddrAsync, "accessAddrAsync"));
	m.Set("snapshot", Napi::Function::New(env, Snapshot, "snapshot"));
	m.Set("invalRead", Napi::Function::New(env, InvalRead, "invalRead"));
	m.Set("stats", Napi::Function::New(env, Stats, "stats"));
	m.Set("setBehaviour", Napi::Function::New(env, SetBehaviour, "setBehaviour"));
	m.Set("ioctl", Napi::Function::New(env, RawIoctl, "ioctl"));
	m.Set("pollAsync", Napi::Function::New(env, PollAsync, "pollAsync"));
	m.Set("timeUserptr", Napi::Function::New(env, TimeUserptr, "timeUserptr"));
	m.Set("timeAccess", Napi::Function::New(env, TimeAccess, "timeAccess"));
	m.Set("migrate", Napi::Function::New(env, Migrate, "migrate"));
	m.Set("exclusive", Napi::Function::New(env, Exclusive, "exclusive"));
	m.Set("deviceInfo", Napi::Function::New(env, DeviceInfo, "deviceInfo"));
	m.Set("timeMigrate", Napi::Function::New(env, TimeMigrate, "timeMigrate"));
	m.Set("accessStorm", Napi::Function::New(env, AccessStorm, "accessStorm"));

	Napi::Object c = Napi::Object::New(env);
#define C(x) c.Set(#x, Napi::Number::New(env, (double)(x)))
	C(MIRRORDRM_USERPTR_MODE_MASK); C(MIRRORDRM_USERPTR_MODE_GUP);
	C(MIRRORDRM_USERPTR_MODE_GUP_LONGTERM); C(MIRRORDRM_USERPTR_MODE_GUP_GET);
	C(MIRRORDRM_USERPTR_MODE_HMM); C(MIRRORDRM_USERPTR_MODE_SVM); C(MIRRORDRM_USERPTR_READ_ONLY);
	C(MIRRORDRM_USERPTR_POPULATE); C(MIRRORDRM_USERPTR_GUP_REPIN);
	C(MIRRORDRM_USERPTR_FLAGS); C(MIRRORDRM_USERPTR_MAX_SIZE);
	C(MIRRORDRM_ACCESS_READ); C(MIRRORDRM_ACCESS_WRITE);
	C(MIRRORDRM_PAGE_VALID); C(MIRRORDRM_PAGE_WRITE); C(MIRRORDRM_PAGE_ZERO);
	C(MIRRORDRM_PAGE_ERROR); C(MIRRORDRM_PAGE_STALE); C(MIRRORDRM_PAGE_SAME);
	C(MIRRORDRM_PAGE_ORDER_SHIFT); C(MIRRORDRM_PAGE_ORDER_MASK);
	C(MIRRORDRM_RECORD_BLOCKABLE); C(MIRRORDRM_RECORD_WOULD_BLOCK);
	C(MIRRORDRM_RECORD_READ_ONLY); C(MIRRORDRM_RECORD_DOWNGRADED);
	C(MIRRORDRM_RECORD_KEPT_STALE); C(MIRRORDRM_RECORD_FENCE_WAIT);
	C(MIRRORDRM_USERPTR_TWO_PASS); C(MIRRORDRM_RECORD_TWO_PASS);
	C(MIRRORDRM_RECORD_FINISH_FALLBACK);
	C(MIRRORDRM_OWNER_NONE); C(MIRRORDRM_OWNER_FOREIGN);
	C(MIRRORDRM_RECORD_OWN_MIGRATION);
	C(MIRRORDRM_PAGE_DEVICE_PRIVATE); C(MIRRORDRM_PAGE_EXCLUSIVE);
	C(MIRRORDRM_PAGE_OWNER_SHIFT); C(MIRRORDRM_PAGE_OWNER_MASK);
	C(MIRRORDRM_MIGRATE_TO_DEVICE); C(MIRRORDRM_MIGRATE_TO_RAM);
	C(MIRRORDRM_MIGRATE_COMPOUND); C(MIRRORDRM_MIGRATE_FLAGS);
	C(MIRRORDRM_CAP_DEVICE_PRIVATE); C(MIRRORDRM_CAP_MIGRATE_COMPOUND);
	C(MIRRORDRM_CAP_EXCLUSIVE);
	C(DRM_MIRRORDRM_MIGRATE); C(DRM_MIRRORDRM_EXCLUSIVE); C(DRM_MIRRORDRM_DEVICE_INFO);
	C(DRM_IOCTL_MIRRORDRM_MIGRATE); C(DRM_IOCTL_MIRRORDRM_EXCLUSIVE);
	C(DRM_IOCTL_MIRRORDRM_DEVICE_INFO);
	C(MIRRORDRM_BEHAVIOUR_RO_DOWNGRADE); C(MIRRORDRM_FENCE_WAIT_MAX_NS);
	C(MIRRORDRM_POPULATE_DELAY_MAX_NS);
	C(MIRRORDRM_ACCESS_FLAGS); C(MIRRORDRM_BEHAVIOUR_FLAGS);
	C(MIRRORDRM_IOCTL_BASE); C(MIRRORDRM_COMMAND_BASE);
	C(DRM_MIRRORDRM_USERPTR); C(DRM_MIRRORDRM_ACCESS); C(DRM_MIRRORDRM_SNAPSHOT);
	C(DRM_MIRRORDRM_INVAL_READ); C(DRM_MIRRORDRM_STATS);
	C(DRM_MIRRORDRM_SET_BEHAVIOUR);
	C(MIRRORDRM_EVENT_UNMAP); C(MIRRORDRM_EVENT_CLEAR);
	C(MIRRORDRM_EVENT_PROTECTION_VMA); C(MIRRORDRM_EVENT_PROTECTION_PAGE);
	C(MIRRORDRM_EVENT_SOFT_DIRTY); C(MIRRORDRM_EVENT_RELEASE);
	C(MIRRORDRM_EVENT_MIGRATE); C(MIRRORDRM_EVENT_EXCLUSIVE);
	C(MIRRORDRM_EVENT_UNKNOWN); C(MIRRORDRM_EVENT_SLOTS);
	C(DRM_IOCTL_MIRRORDRM_USERPTR); C(DRM_IOCTL_MIRRORDRM_ACCESS);
	C(DRM_IOCTL_MIRRORDRM_SNAPSHOT); C(DRM_IOCTL_MIRRORDRM_INVAL_READ);
	C(DRM_IOCTL_MIRRORDRM_STATS); C(DRM_IOCTL_MIRRORDRM_SET_BEHAVIOUR);
	C(POLLIN);
	c.Set("sizeofPage", Napi::Number::New(env, (double)sizeof(drm_mirrordrm_page)));
	c.Set("sizeofRecord", Napi::Number::New(env, (double)sizeof(drm_mirrordrm_inval_record)));
	c.Set("sizeofCounters", Napi::Number::New(env, (double)sizeof(drm_mirrordrm_counters)));
#undef C
	m.Set("layout", Layout(env));
	exports.Set("mirrordrm", m);
	exports.Set("mirrordrmConstants", c);
}
