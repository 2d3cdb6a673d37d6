// userfaultfd(2): creation (syscall or /dev/userfaultfd), the UFFDIO_* ioctls,
// reading messages, a poller on the main thread's event loop that reads the
// messages there (no thread), and two readers that run on their own threads:
//
//  - a delivery thread that polls the uffd and hands every message to a
//    JavaScript callback through a thread-safe function (not the libuv pool);
//  - a fault server that resolves page faults itself with a fixed policy
//    (UFFDIO_COPY from a pattern, UFFDIO_ZEROPAGE, optional delay first) and
//    records how long each fault took to serve, for measurement.
//
// Both stop through an eventfd that their poll() also waits on, so stopping
// never depends on a fault arriving. Neither closes the uffd: the owner does.
#include "addon.h"
#include "syscall_error.h"
#include "uffd_abi.h"

#include <atomic>
#include <cerrno>
#include <cstring>
#include <functional>
#include <mutex>
#include <set>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <poll.h>
#include <uv.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

namespace {

uint64_t NowNs()
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

// ---------------------------------------------------------------- creation

// uffdOpen(flags, viaDevice) -> fd. flags: O_CLOEXEC, O_NONBLOCK, UFFD_USER_MODE_ONLY.
Napi::Value UffdOpen(const Napi::CallbackInfo &info)
{
	Napi::Env env = info.Env();
	int flags = (int)ArgI64(info, 0, "flags");
	bool dev = info[1].ToBoolean();
	int fd;

	if (!dev) {
		fd = (int)syscall(SYS_userfaultfd, flags);
		if (fd < 0)
			ThrowSyscallError(env, errno, "userfaultfd", {{"flags", (uint64_t)flags, true}});
		return Napi::Number::New(env, fd);
	}
	int dfd = open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);
	if (dfd < 0)
		ThrowSyscallError(env, errno, "open(/dev/userfaultfd)", {{"flags", (uint64_t)(O_RDWR | O_CLOEXEC), true}});
	fd = ioctl(dfd, USERFAULTFD_IOC_NEW, flags);
	int err = errno;
	close(dfd);
	if (fd < 0)
		ThrowSyscallError(env, err, "ioctl(USERFAULTFD_IOC_NEW)", {{"flags", (uint64_t)flags, true}});
	return Napi::Number::New(env, fd);
}

Napi::Value UffdClose(const Napi::CallbackInfo &info)
{
	int fd = ArgFd(info, 0, "fd");
	if (close(fd))
		ThrowSyscallError(info.Env(), errno, "close", {{"fd", (uint64_t)fd}});
	return info.Env().Undefined();
}

// uffdApi(fd, features) -> { api, features, ioctls } as the kernel wrote them
// back: features = every feature this kernel offers, ioctls = UFFD_API_IOCTLS.
Napi::Value UffdApi(const Napi::CallbackInfo &info)
{
	Napi::Env env = info.Env();
	int fd = ArgFd(info, 0, "fd");
	struct uffdio_api api = {};
	api.api = UFFD_API;
	api.features = ArgU64(info, 1, "features");
	uint64_t asked = api.features;
	if (ioctl(fd, UFFDIO_API, &api))
		ThrowSyscallError(env, errno, "ioctl(UFFDIO_API)",
				  {{"fd", (uint64_t)fd}, {"api", UFFD_API, true}, {"features", asked, true}});
	Napi::Object r = Napi::Object::New(env);
	r.Set("api", Napi::BigInt::New(env, (uint64_t)api.api));
	r.Set("features", Napi::BigInt::New(env, (uint64_t)api.features));
	r.Set("ioctls", Napi::BigInt::New(env, (uint64_t)api.ioctls));
	return r;
}

// ---------------------------------------------------------------- ioctls

// The source of UFFDIO_COPY: an address (BigInt/Number) or a TypedArray/Buffer
// whose bytes are read during the (synchronous) ioctl.
uint64_t ArgSource(const Napi::CallbackInfo &info, size_t index, uint64_t len)
{
	Napi::Value v = info[index];
	if (v.IsTypedArray()) {
		Napi::TypedArray ta = v.As<Napi::TypedArray>();
		if (ta.ByteLength() < len) {
			Napi::RangeError e = Napi::RangeError::New(info.Env(),
				"The source buffer is shorter than the length to copy");
			e.Set("code", Napi::String::New(info.Env(), "ERR_OUT_OF_RANGE"));
			throw e;
		}
		uint8_t *base = (uint8_t *)ta.ArrayBuffer().Data();
		return (uint64_t)(base + ta.ByteOffset());
	}
	return ArgU64(info, index, "src");
}

Napi::Value UffdRegister(const Napi::CallbackInfo &info)
{
	int fd = ArgFd(info, 0, "fd");
	struct uffdio_register reg = {};
	reg.range.start = ArgU64(info, 1, "start");
	reg.range.len = ArgU64(info, 2, "len");
	reg.mode = ArgU64(info, 3, "mode");
	if (ioctl(fd, UFFDIO_REGISTER, &reg))
		ThrowSyscallError(info.Env(), errno, "ioctl(UFFDIO_REGISTER)",
				  {{"fd", (uint64_t)fd}, {"start", reg.range.start, true},
				   {"len", reg.range.len}, {"mode", reg.mode, true}});
	return Napi::BigInt::New(info.Env(), (uint64_t)reg.ioctls);
}

Napi::Value UffdRangeIoctl(const Napi::CallbackInfo &info, unsigned long cmd, const char *name)
{
	int fd = ArgFd(info, 0, "fd");
	struct uffdio_range range = {};
	range.start = ArgU64(info, 1, "start");
	range.len = ArgU64(info, 2, "len");
	if (ioctl(fd, cmd, &range))
		ThrowSyscallError(info.Env(), errno, name,
				  {{"fd", (uint64_t)fd}, {"start", range.start, true}, {"len", range.len}});
	return info.Env().Undefined();
}

Napi::Value UffdUnregister(const Napi::CallbackInfo &info)
{
	return UffdRangeIoctl(info, UFFDIO_UNREGISTER, "ioctl(UFFDIO_UNREGISTER)");
}

Napi::Value UffdWake(const Napi::CallbackInfo &info)
{
	return UffdRangeIoctl(info, UFFDIO_WAKE, "ioctl(UFFDIO_WAKE)");
}

// The kernel writes the progress field (copy, zeropage, mapped, updated, move)
// before returning: bytes done, or -errno. A partial result comes back as
// -1/EAGAIN with a positive field; the thrown error keeps the field, signed,
// in err.args and in the message.
[[noreturn]] void ThrowProgress(Napi::Env env, int err, const char *name,
				std::initializer_list<SyscallArg> args,
				const char *field, int64_t value)
{
	Napi::Error e = SyscallError(env, err, name, args);
	e.Get("args").As<Napi::Object>().Set(field, Napi::Number::New(env, (double)value));
	std::string msg = e.Message();
	if (!msg.empty() && msg.back() == ')')
		msg.pop_back();
	msg += std::string(", ") + field + "=" + std::to_string(value) + ")";
	e.Set("message", Napi::String::New(env, msg));
	throw e;
}

Napi::Value UffdCopy(const Napi::CallbackInfo &info)
{
	int fd = ArgFd(info, 0, "fd");
	struct uffdio_copy c = {};
	c.dst = ArgU64(info, 1, "dst");
	c.len = ArgU64(info, 3, "len");
	c.src = ArgSource(info, 2, c.len);
	c.mode = ArgU64(info, 4, "mode");
	if (ioctl(fd, UFFDIO_COPY, &c))
		ThrowProgress(info.Env(), errno, "ioctl(UFFDIO_COPY)",
			      {{"fd", (uint64_t)fd}, {"dst", c.dst, true}, {"src", c.src, true},
				   {"len", c.len}, {"mode", c.mode, true}},
			      "copy", c.copy);
	return Napi::Number::New(info.Env(), (double)c.copy);
}

Napi::Value UffdZeropage(const Napi::CallbackInfo &info)
{
	int fd = ArgFd(info, 0, "fd");
	struct uffdio_zeropage z = {};
	z.range.start = ArgU64(info, 1, "start");
	z.range.len = ArgU64(info, 2, "len");
	z.mode = ArgU64(info, 3, "mode");
	if (ioctl(fd, UFFDIO_ZEROPAGE, &z))
		ThrowProgress(info.Env(), errno, "ioctl(UFFDIO_ZEROPAGE)",
			      {{"fd", (uint64_t)fd}, {"start", z.range.start, true}, {"len", z.range.len},
				   {"mode", z.mode, true}},
			      "zeropage", z.zeropage);
	return Napi::Number::New(info.Env(), (double)z.zeropage);
}

Napi::Value UffdWriteprotect(const Napi::CallbackInfo &info)
{
	int fd = ArgFd(info, 0, "fd");
	struct uffdio_writeprotect w = {};
	w.range.start = ArgU64(info, 1, "start");
	w.range.len = ArgU64(info, 2, "len");
	w.mode = ArgU64(info, 3, "mode");
	if (ioctl(fd, UFFDIO_WRITEPROTECT, &w))
		ThrowSyscallError(info.Env(), errno, "ioctl(UFFDIO_WRITEPROTECT)",
				  {{"fd", (uint64_t)fd}, {"start", w.range.start, true}, {"len", w.range.len},
				   {"mode", w.mode, true}});
	return info.Env().Undefined();
}

Napi::Value UffdContinue(const Napi::CallbackInfo &info)
{
	int fd = ArgFd(info, 0, "fd");
	struct uffdio_continue c = {};
	c.range.start = ArgU64(info, 1, "start");
	c.range.len = ArgU64(info, 2, "len");
	c.mode = ArgU64(info, 3, "mode");
	if (ioctl(fd, UFFDIO_CONTINUE, &c))
		ThrowProgress(info.Env(), errno, "ioctl(UFFDIO_CONTINUE)",
			      {{"fd", (uint64_t)fd}, {"start", c.range.start, true}, {"len", c.range.len},
				   {"mode", c.mode, true}},
			      "mapped", c.mapped);
	return Napi::Number::New(info.Env(), (double)c.mapped);
}

Napi::Value UffdMove(const Napi::CallbackInfo &info)
{
	int fd = ArgFd(info, 0, "fd");
	struct uffdio_move m = {};
	m.dst = ArgU64(info, 1, "dst");
	m.src = ArgU64(info, 2, "src");
	m.len = ArgU64(info, 3, "len");
	m.mode = ArgU64(info, 4, "mode");
	if (ioctl(fd, UFFDIO_MOVE, &m))
		ThrowProgress(info.Env(), errno, "ioctl(UFFDIO_MOVE)",
			      {{"fd", (uint64_t)fd}, {"dst", m.dst, true}, {"src", m.src, true},
				   {"len", m.len}, {"mode", m.mode, true}},
			      "move", m.move);
	return Napi::Number::New(info.Env(), (double)m.move);
}

Napi::Value UffdPoison(const Napi::CallbackInfo &info)
{
	int fd = ArgFd(info, 0, "fd");
	struct uffdio_poison p = {};
	p.range.start = ArgU64(info, 1, "start");
	p.range.len = ArgU64(info, 2, "len");
	p.mode = ArgU64(info, 3, "mode");
	if (ioctl(fd, UFFDIO_POISON, &p))
		ThrowProgress(info.Env(), errno, "ioctl(UFFDIO_POISON)",
			      {{"fd", (uint64_t)fd}, {"start", p.range.start, true}, {"len", p.range.len},
				   {"mode", p.mode, true}},
			      "updated", p.updated);
	return Napi::Number::New(info.Env(), (double)p.updated);
}

// ---------------------------------------------------------------- messages

Napi::Object MessageToObject(Napi::Env env, const struct uffd_msg &m, uint64_t readNs)
{
	Napi::Object o = Napi::Object::New(env);
	o.Set("event", Napi::Number::New(env, m.event));
	o.Set("readNs", Napi::BigInt::New(env, readNs));
	switch (m.event) {
	case UFFD_EVENT_PAGEFAULT:
		o.Set("flags", Napi::Number::New(env, (double)m.arg.pagefault.flags));
		o.Set("address", Napi::BigInt::New(env, (uint64_t)m.arg.pagefault.address));
		o.Set("ptid", Napi::Number::New(env, m.arg.pagefault.feat.ptid));
		break;
	case UFFD_EVENT_FORK:
		o.Set("ufd", Napi::Number::New(env, m.arg.fork.ufd));
		break;
	case UFFD_EVENT_REMAP:
		o.Set("from", Napi::BigInt::New(env, (uint64_t)m.arg.remap.from));
		o.Set("to", Napi::BigInt::New(env, (uint64_t)m.arg.remap.to));
		o.Set("len", Napi::Number::New(env, (double)m.arg.remap.len));
		break;
	case UFFD_EVENT_REMOVE:
	case UFFD_EVENT_UNMAP:
		o.Set("start", Napi::BigInt::New(env, (uint64_t)m.arg.remove.start));
		o.Set("end", Napi::BigInt::New(env, (uint64_t)m.arg.remove.end));
		break;
	default:
		break;
	}
	return o;
}

// uffdRead(fd) -> message objects; [] when none is queued (O_NONBLOCK uffd).
Napi::Value UffdRead(const Napi::CallbackInfo &info)
{
	Napi::Env env = info.Env();
	int fd = ArgFd(info, 0, "fd");
	struct uffd_msg msgs[16];
	ssize_t n = read(fd, msgs, sizeof(msgs));
	Napi::Array out = Napi::Array::New(env);
	if (n < 0) {
		if (errno == EAGAIN)
			return out;
		ThrowSyscallError(env, errno, "read(userfaultfd)", {{"fd", (uint64_t)fd}});
	}
	uint64_t now = NowNs();
	for (size_t i = 0; i < (size_t)n / sizeof(msgs[0]); i++)
		out.Set((uint32_t)i, MessageToObject(env, msgs[i], now));
	return out;
}

// ---------------------------------------------------------------- reader threads

// Common part of the two readers: poll(uffd, stop eventfd), read a batch.
// Returns the number of messages, 0 when asked to stop, -ETIMEDOUT when
// timeoutMs (>= 0) passed with nothing to read, -errno on failure.
ssize_t ReadBatch(int fd, int stopfd, struct uffd_msg *msgs, size_t max, int timeoutMs = -1)
{
	for (;;) {
		struct pollfd p[2] = {{fd, POLLIN, 0}, {stopfd, POLLIN, 0}};
		int r = poll(p, 2, timeoutMs);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (r == 0)
			return -ETIMEDOUT;
		if (p[1].revents)
			return 0;
		if (p[0].revents & POLLNVAL)
			return -EBADF;
		// POLLERR: the uffd was never initialized by UFFDIO_API.
		if (p[0].revents & POLLERR)
			return -EINVAL;
		ssize_t n = read(fd, msgs, max * sizeof(*msgs));
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR) {
				if (timeoutMs >= 0)
					return -ETIMEDOUT;
				continue;	// another reader took it, or a wakeup with nothing queued
			}
			return -errno;
		}
		return n / (ssize_t)sizeof(*msgs);
	}
}

struct Reader;
std::mutex g_readers_lock;
std::set<Reader *> g_readers;	// running readers, stopped at environment teardown

struct Reader {
	int fd;
	int stopfd = -1;
	std::thread thread;
	bool stopped = false;

	virtual ~Reader() = default;
	virtual void Finish() {}

	// Returns 0 or the errno of a failed thread creation.
	int Start(std::function<void()> body)
	{
		try {
			thread = std::thread(std::move(body));
		} catch (const std::system_error &e) {
			return e.code().value();
		}
		std::lock_guard<std::mutex> g(g_readers_lock);
		g_readers.insert(this);
		return 0;
	}

	// Main thread only. Idempotent.
	void Stop()
	{
		if (stopped)
			return;
		stopped = true;
		uint64_t one = 1;
		if (write(stopfd, &one, sizeof(one)) < 0) {
			/* an eventfd write of 1 cannot fail short of EBADF */
		}
		if (thread.joinable())
			thread.join();
		close(stopfd);
		stopfd = -1;
		{
			std::lock_guard<std::mutex> g(g_readers_lock);
			g_readers.erase(this);
		}
		Finish();
	}
};

void StopAllReaders(void *)
{
	std::vector<Reader *> all;
	{
		std::lock_guard<std::mutex> g(g_readers_lock);
		all.assign(g_readers.begin(), g_readers.end());
	}
	for (Reader *r : all)
		r->Stop();
}

// ---- delivery to JavaScript

struct DeliveryItem {
	struct uffd_msg msg;
	uint64_t readNs;
	int err;	// nonzero: the reader stopped on this error
};

void DeliverToJs(Napi::Env env, Napi::Function cb, std::nullptr_t *, DeliveryItem *item)
{
	if (env != nullptr && cb != nullptr) {
		if (item->err) {
			cb.Call({SyscallError(env, item->err, "read(userfaultfd)").Value(), env.Null()});
		} else {
			cb.Call({env.Null(), MessageToObject(env, item->msg, item->readNs)});
		}
	}
	delete item;
}

using DeliveryTsfn = Napi::TypedThreadSafeFunction<std::nullptr_t, DeliveryItem, DeliverToJs>;

struct Delivery : Reader {
	DeliveryTsfn tsfn;
	std::atomic<uint64_t> delivered{0};

	void Run()
	{
		struct uffd_msg msgs[16];
		for (;;) {
			ssize_t n = ReadBatch(fd, stopfd, msgs, 16);
			if (n == 0)
				break;
			if (n < 0) {
				tsfn.BlockingCall(new DeliveryItem{{}, 0, (int)-n});
				break;
			}
			uint64_t now = NowNs();
			for (ssize_t i = 0; i < n; i++) {
				// Unbounded queue: BlockingCall never waits for JavaScript.
				if (tsfn.BlockingCall(new DeliveryItem{msgs[i], now, 0}) != napi_ok)
					return;
				delivered++;
			}
		}
	}

	void Finish() override
	{
		tsfn.Release();
	}

	~Delivery() override
	{
		Stop();
	}
};

void FinalizeReader(Napi::Env, Reader *r)
{
	r->Stop();
	delete r;
}

// deliveryStart(fd, callback(err, msg)) -> handle. Each message is passed to
// the callback on the main thread, in the order read.
Napi::Value DeliveryStart(const Napi::CallbackInfo &info)
{
	Napi::Env env = info.Env();
	int fd = ArgFd(info, 0, "fd");
	Napi::Function cb = info[1].As<Napi::Function>();
	int stopfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (stopfd < 0)
		ThrowSyscallError(env, errno, "eventfd");
	auto *d = new Delivery();
	d->fd = fd;
	d->stopfd = stopfd;
	d->tsfn = DeliveryTsfn::New(env, cb, "mirrorlab.userfaultfd.delivery", 0, 1);
	if (int err = d->Start([d] { d->Run(); })) {
		d->tsfn.Release();
		close(stopfd);
		d->stopped = true;
		delete d;
		ThrowSyscallError(env, err, "pthread_create");
	}
	return Napi::External<Reader>::New(env, d, FinalizeReader);
}

Napi::Value ReaderStop(const Napi::CallbackInfo &info)
{
	info[0].As<Napi::External<Reader>>().Data()->Stop();
	return info.Env().Undefined();
}

// deliveryRef(handle, ref): whether pending delivery keeps the event loop alive.
Napi::Value DeliveryRef(const Napi::CallbackInfo &info)
{
	auto *d = static_cast<Delivery *>(info[0].As<Napi::External<Reader>>().Data());
	if (!d->stopped) {
		if (info[1].ToBoolean())
			d->tsfn.Ref(info.Env());
		else
			d->tsfn.Unref(info.Env());
	}
	return info.Env().Undefined();
}

// ---- delivery on the main thread's event loop

// A uv_poll_t on the uffd in the environment's own loop. When the uffd is
// readable, the main thread reads every queued message (one read(), up to the
// buffer's capacity) into a buffer shared with JavaScript and calls back once
// for the batch; JavaScript decodes the messages. Compared with the delivery
// thread this saves a thread wakeup and the thread-safe-function hop (an
// eventfd write and a second wakeup of the loop) on every fault. The price:
// messages are read only while the main thread is back in its event loop, so
// a main thread that blocks on its own uffd (touching a registered page, or
// madvise/munmap/mremap/fork with a non-cooperative event enabled, which wait
// until their message is read) never returns. The delivery thread is for that.
//
// Buffer layout: u64 readNs (CLOCK_MONOTONIC at the read), then the struct
// uffd_msg as the kernel wrote them (32 bytes each).
constexpr size_t POLL_HEADER = 8;

struct Poller {
	uv_poll_t handle;
	napi_env env = nullptr;
	int fd = -1;
	Napi::FunctionReference callback;
	Napi::Reference<Napi::ArrayBuffer> buffer;
	napi_async_context context = nullptr;
	napi_async_cleanup_hook_handle hook = nullptr;
	uint8_t *data = nullptr;
	size_t max = 0;		// messages the buffer holds
	bool started = false;	// uv_poll_init succeeded: the handle must be closed
	bool stopped = false;	// Stop() ran
	bool closed = false;	// the handle's close callback ran (or it never opened)
	bool finalized = false;	// the JavaScript handle was collected

	static void OnClose(uv_handle_t *h)
	{
		auto *p = static_cast<Poller *>(h->data);
		p->Closed();
	}

	void Closed()
	{
		closed = true;
		if (hook) {
			napi_remove_async_cleanup_hook(hook);
			hook = nullptr;
		}
		if (finalized)
			delete this;
	}

	// Main thread only. Idempotent. Messages already read were handed over
	// in the batch that read them; the rest stay queued in the kernel.
	void Stop()
	{
		if (stopped)
			return;
		stopped = true;
		callback.Reset();
		buffer.Reset();
		if (context) {
			napi_async_destroy(env, context);
			context = nullptr;
		}
		if (started) {
			// uv_close takes the fd out of the loop's epoll set now; only
			// the callback waits for the next loop iteration.
			uv_close(reinterpret_cast<uv_handle_t *>(&handle), OnClose);
		} else {
			Closed();
		}
	}

	static void AsyncCleanup(napi_async_cleanup_hook_handle, void *arg)
	{
		static_cast<Poller *>(arg)->Stop();
	}

	// Call back (err, count) in a callback scope: microtasks (promises the
	// handler resolved) run before the loop moves on. An exception from the
	// handler becomes an uncaught exception, as from any I/O callback.
	void Call(napi_value err, size_t count)
	{
		Napi::Env e(env);
		try {
			callback.MakeCallback(e.Global(), {err, Napi::Number::New(e, (double)count)}, context);
		} catch (const Napi::Error &x) {
			napi_fatal_exception(env, x.Value());
		}
	}

	void Fail(int err, const char *syscall)
	{
		Napi::Env e(env);
		Napi::Value v = SyscallError(e, err, syscall, {{"fd", (uint64_t)fd}}).Value();
		Call(v, 0);
		Stop();
	}

	static void OnReadable(uv_poll_t *h, int status, int)
	{
		auto *p = static_cast<Poller *>(h->data);
		if (p->stopped)
			return;
		Napi::HandleScope scope(Napi::Env(p->env));
		ssize_t n = read(p->fd, p->data + POLL_HEADER, p->max * sizeof(struct uffd_msg));
		if (n < 0) {
			int err = errno;
			if (err == EAGAIN || err == EINTR) {
				// Nothing queued (a wakeup that another reader served).
				// A poll error with nothing to read is libuv's to report.
				if (status < 0)
					p->Fail(-status, "uv_poll");
				return;
			}
			// An uninitialized uffd polls POLLERR and reads EINVAL.
			p->Fail(err, "read(userfaultfd)");
			return;
		}
		if (n == 0) {
			// A uffd never reads 0 bytes; stop rather than spin on it.
			p->Fail(EIO, "read(userfaultfd)");
			return;
		}
		uint64_t now = NowNs();
		memcpy(p->data, &now, sizeof(now));
		p->Call(Napi::Env(p->env).Null(), (size_t)n / sizeof(struct uffd_msg));
		// libuv stops the handle after reporting a poll error: say so rather
		// than go quiet.
		if (status < 0 && !p->stopped)
			p->Fail(-status, "uv_poll");
	}
};

void FinalizePoller(Napi::Env, Poller *p)
{
	p->Stop();
	p->finalized = true;
	if (p->closed)
		delete p;
}

// pollStart(fd, buffer: ArrayBuffer, callback(err, count)) -> handle. The
// buffer holds POLL_HEADER bytes and then at least one uffd_msg; each batch
// is written there before the callback, which must decode it before returning.
Napi::Value PollStart(const Napi::CallbackInfo &info)
{
	Napi::Env env = info.Env();
	int fd = ArgFd(info, 0, "fd");
	auto fail = [&](Napi::Error e, const char *code) {
		e.Set("code", Napi::String::New(env, code));
		throw e;
	};
	if (!info[1].IsArrayBuffer())
		fail(Napi::TypeError::New(env, "The \"buffer\" argument must be an ArrayBuffer"), "ERR_INVALID_ARG_TYPE");
	Napi::ArrayBuffer ab = info[1].As<Napi::ArrayBuffer>();
	if (ab.ByteLength() < POLL_HEADER + sizeof(struct uffd_msg))
		fail(Napi::RangeError::New(env, "The \"buffer\" argument must hold the header and at least one uffd_msg"), "ERR_OUT_OF_RANGE");
	if (!info[2].IsFunction())
		fail(Napi::TypeError::New(env, "The \"callback\" argument must be a function"), "ERR_INVALID_ARG_TYPE");
	uv_loop_t *loop = nullptr;
	if (napi_get_uv_event_loop(env, &loop) != napi_ok)
		throw Napi::Error::New(env, "no event loop");

	auto *p = new Poller();
	p->env = env;
	p->fd = fd;
	p->data = static_cast<uint8_t *>(ab.Data());
	p->max = (ab.ByteLength() - POLL_HEADER) / sizeof(struct uffd_msg);
	p->handle.data = p;
	// libuv errors are negative errnos on Linux (EBADF: not an open fd,
	// EEXIST: this loop already polls it, EPERM: a file epoll cannot poll).
	const char *failed = "uv_poll_init";
	int rc = uv_poll_init(loop, &p->handle, fd);
	if (rc == 0) {
		p->started = true;
		failed = "uv_poll_start";
		rc = uv_poll_start(&p->handle, UV_READABLE, Poller::OnReadable);
	}
	if (rc != 0) {
		p->finalized = true;	// nothing in JavaScript refers to it
		p->Stop();		// frees it, now or once the handle has closed
		ThrowSyscallError(env, -rc, failed, {{"fd", (uint64_t)fd}});
	}
	p->callback = Napi::Persistent(info[2].As<Napi::Function>());
	p->buffer = Napi::Persistent(ab);
	napi_async_init(env, nullptr, Napi::String::New(env, "mirrorlab.userfaultfd.poll"), &p->context);
	napi_add_async_cleanup_hook(env, Poller::AsyncCleanup, p, &p->hook);
	return Napi::External<Poller>::New(env, p, FinalizePoller);
}

Napi::Value PollStop(const Napi::CallbackInfo &info)
{
	info[0].As<Napi::External<Poller>>().Data()->Stop();
	return info.Env().Undefined();
}

// pollRef(handle, ref): whether polling keeps the event loop alive.
Napi::Value PollRef(const Napi::CallbackInfo &info)
{
	Poller *p = info[0].As<Napi::External<Poller>>().Data();
	if (!p->stopped) {
		if (info[1].ToBoolean())
			uv_ref(reinterpret_cast<uv_handle_t *>(&p->handle));
		else
			uv_unref(reinterpret_cast<uv_handle_t *>(&p->handle));
	}
	return info.Env().Undefined();
}

// ---- native fault server

enum MissingPolicy { POLICY_COPY = 0, POLICY_ZEROPAGE = 1 };

struct Server : Reader {
	// configuration (immutable while running)
	int policy = POLICY_COPY;
	std::vector<uint8_t> pattern;	// pageSize bytes
	uint64_t pageSize = 4096;
	uint64_t copyMode = 0;		// UFFDIO_COPY_MODE_WP
	uint64_t delayNs = 0;
	size_t maxSamples = 1 << 20;

	// results (counters readable while running)
	std::atomic<uint64_t> faults{0}, missing{0}, wp{0}, minor{0};
	std::atomic<uint64_t> eexist{0}, eagain{0}, errors{0};
	std::atomic<uint64_t> forks{0}, remaps{0}, removes{0}, unmaps{0};
	std::atomic<int> lastErrno{0};
	std::vector<double> serviceNs;	// written by the server thread only; read after Stop()
	std::vector<double> readAtNs;	// CLOCK_MONOTONIC when each fault's message was taken up
	std::vector<double> faultAddr;	// each fault's address (exact in a double below 2^53)

	void Sleep()
	{
		struct timespec ts = {(time_t)(delayNs / 1000000000ull), (long)(delayNs % 1000000000ull)};
		while (clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, &ts) == EINTR)
			;
	}

	// One attempt. Returns 0 (resolved), EAGAIN (the mm is changing: a
	// FORK/REMAP/REMOVE/UNMAP event is in flight, and it completes only once
	// this thread reads it, so retry after reading), or another errno.
	// EEXIST (the page is already there, e.g. a second thread faulted on it)
	// counts as resolved once the waiters are woken. On any other error the
	// waiters are woken too, so the faulting thread retries the access and
	// meets whatever the kernel now decides (SIGSEGV if the range is gone)
	// instead of waiting forever.
	int Resolve(const struct uffd_msg &m)
	{
		uint64_t page = m.arg.pagefault.address & ~(pageSize - 1);
		uint64_t flags = m.arg.pagefault.flags;
		struct uffdio_range r = {page, pageSize};
		int rc;

		if (flags & UFFD_PAGEFAULT_FLAG_WP) {
			struct uffdio_writeprotect w = {{page, pageSize}, 0};
			rc = ioctl(fd, UFFDIO_WRITEPROTECT, &w);
		} else if (flags & UFFD_PAGEFAULT_FLAG_MINOR) {
			struct uffdio_continue c = {{page, pageSize}, 0, 0};
			rc = ioctl(fd, UFFDIO_CONTINUE, &c);
		} else if (policy == POLICY_ZEROPAGE) {
			struct uffdio_zeropage z = {{page, pageSize}, 0, 0};
			rc = ioctl(fd, UFFDIO_ZEROPAGE, &z);
		} else {
			struct uffdio_copy c = {page, (uint64_t)pattern.data(), pageSize, copyMode, 0};
			rc = ioctl(fd, UFFDIO_COPY, &c);
		}
		if (rc == 0)
			return 0;
		int err = errno;
		if (err == EAGAIN) {
			eagain++;
			return EAGAIN;
		}
		ioctl(fd, UFFDIO_WAKE, &r);
		if (err == EEXIST) {
			eexist++;
			return 0;
		}
		return err;
	}

	struct Pending {
		struct uffd_msg msg;
		uint64_t t0;
	};

	void Finish(const Pending &p, int err)
	{
		uint64_t t1 = NowNs();
		if (err) {
			lastErrno = err;
			errors++;
		}
		if (serviceNs.size() < maxSamples) {
			serviceNs.push_back((double)(t1 - p.t0));
			readAtNs.push_back((double)p.t0);
			faultAddr.push_back((double)p.msg.arg.pagefault.address);
		}
	}

	void Run()
	{
		struct uffd_msg msgs[16];
		std::vector<Pending> retry;	// faults that met EAGAIN, oldest first

		for (;;) {
			// With faults waiting for a retry, do not sleep long: the event
			// that made the mm change may already have been read.
			ssize_t n = ReadBatch(fd, stopfd, msgs, 16, retry.empty() ? -1 : 1);
			if (n == 0)
				break;
			if (n == -ETIMEDOUT)
				n = 0;
			if (n < 0) {
				lastErrno = (int)-n;
				errors++;
				break;
			}
			for (ssize_t i = 0; i < n; i++) {
				const struct uffd_msg &m = msgs[i];
				switch (m.event) {
				case UFFD_EVENT_PAGEFAULT: {
					Pending p = {m, NowNs()};
					faults++;
					if (m.arg.pagefault.flags & UFFD_PAGEFAULT_FLAG_WP)
						wp++;
					else if (m.arg.pagefault.flags & UFFD_PAGEFAULT_FLAG_MINOR)
						minor++;
					else
						missing++;
					if (delayNs)
						Sleep();
					int err = Resolve(m);
					if (err == EAGAIN)
						retry.push_back(p);
					else
						Finish(p, err);
					break;
				}
				case UFFD_EVENT_FORK:
					// Nobody serves the child: closing its uffd lets its
					// faults proceed as if it were never registered.
					forks++;
					close((int)m.arg.fork.ufd);
					break;
				case UFFD_EVENT_REMAP:
					remaps++;
					break;
				case UFFD_EVENT_REMOVE:
					removes++;
					break;
				case UFFD_EVENT_UNMAP:
					unmaps++;
					break;
				}
			}
			// Reading the batch completed any event in flight: retry.
			std::vector<Pending> again;
			for (const Pending &p : retry) {
				int err = Resolve(p.msg);
				if (err == EAGAIN)
					again.push_back(p);
				else
					Finish(p, err);
			}
			retry.swap(again);
		}
	}

	~Server() override
	{
		Stop();
	}
};

// serverStart(fd, { policy: 0|1, pattern?: Uint8Array, pageSize, copyMode, delayNs, maxSamples })
Napi::Value ServerStart(const Napi::CallbackInfo &info)
{
	Napi::Env env = info.Env();
	int fd = ArgFd(info, 0, "fd");
	Napi::Object o = info[1].As<Napi::Object>();
	auto *s = new Server();
	s->fd = fd;
	s->policy = o.Get("policy").ToNumber().Int32Value();
	s->pageSize = (uint64_t)o.Get("pageSize").ToNumber().Int64Value();
	s->copyMode = (uint64_t)o.Get("copyMode").ToNumber().Int64Value();
	s->delayNs = (uint64_t)o.Get("delayNs").ToNumber().Int64Value();
	s->maxSamples = (size_t)o.Get("maxSamples").ToNumber().Int64Value();
	s->pattern.assign(s->pageSize, 0);
	Napi::Value pv = o.Get("pattern");
	if (pv.IsTypedArray()) {
		Napi::TypedArray ta = pv.As<Napi::TypedArray>();
		const uint8_t *src = (const uint8_t *)ta.ArrayBuffer().Data() + ta.ByteOffset();
		size_t n = ta.ByteLength();
		for (uint64_t i = 0; n && i < s->pageSize; i++)
			s->pattern[i] = src[i % n];
	}
	s->serviceNs.reserve(std::min<size_t>(s->maxSamples, 1 << 16));
	s->readAtNs.reserve(std::min<size_t>(s->maxSamples, 1 << 16));
	s->faultAddr.reserve(std::min<size_t>(s->maxSamples, 1 << 16));
	s->stopfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (s->stopfd < 0) {
		int err = errno;
		delete s;
		ThrowSyscallError(env, err, "eventfd");
	}
	if (int err = s->Start([s] { s->Run(); })) {
		close(s->stopfd);
		s->stopped = true;
		delete s;
		ThrowSyscallError(env, err, "pthread_create");
	}
	return Napi::External<Reader>::New(env, s, FinalizeReader);
}

Napi::Object ServerCounters(Napi::Env env, Server *s)
{
	Napi::Object r = Napi::Object::New(env);
#define N(x) r.Set(#x, Napi::Number::New(env, (double)s->x.load()))
	N(faults); N(missing); N(wp); N(minor); N(eexist); N(eagain); N(errors);
	N(forks); N(remaps); N(removes); N(unmaps); N(lastErrno);
#undef N
	return r;
}

// serverStats(handle) -> counters (safe while running).
Napi::Value ServerStats(const Napi::CallbackInfo &info)
{
	auto *s = static_cast<Server *>(info[0].As<Napi::External<Reader>>().Data());
	return ServerCounters(info.Env(), s);
}

// serverStop(handle) -> counters + serviceNs (Float64Array); the thread is joined.
Napi::Value ServerStop(const Napi::CallbackInfo &info)
{
	Napi::Env env = info.Env();
	auto *s = static_cast<Server *>(info[0].As<Napi::External<Reader>>().Data());
	s->Stop();
	Napi::Object r = ServerCounters(env, s);
	Napi::Float64Array a = Napi::Float64Array::New(env, s->serviceNs.size());
	if (!s->serviceNs.empty())
		memcpy(a.Data(), s->serviceNs.data(), s->serviceNs.size() * sizeof(double));
	r.Set("serviceNs", a);
	Napi::Float64Array at = Napi::Float64Array::New(env, s->readAtNs.size());
	if (!s->readAtNs.empty())
		memcpy(at.Data(), s->readAtNs.data(), s->readAtNs.size() * sizeof(double));
	r.Set("readAtNs", at);
	Napi::Float64Array fa = Napi::Float64Array::New(env, s->faultAddr.size());
	if (!s->faultAddr.empty())
		memcpy(fa.Data(), s->faultAddr.data(), s->faultAddr.size() * sizeof(double));
	r.Set("address", fa);
	return r;
}

} // namespace

void InitUserfaultfd(Napi::Env env, Napi::Object exports)
{
	napi_add_env_cleanup_hook(env, StopAllReaders, nullptr);

	exports.Set("uffdOpen", Napi::Function::New(env, UffdOpen, "uffdOpen"));
	exports.Set("uffdClose", Napi::Function::New(env, UffdClose, "uffdClose"));
	exports.Set("uffdApi", Napi::Function::New(env, UffdApi, "uffdApi"));
	exports.Set("uffdRegister", Napi::Function::New(env, UffdRegister, "uffdRegister"));
	exports.Set("uffdUnregister", Napi::Function::New(env, UffdUnregister, "uffdUnregister"));
	exports.Set("uffdWake", Napi::Function::New(env, UffdWake, "uffdWake"));
	exports.Set("uffdCopy", Napi::Function::New(env, UffdCopy, "uffdCopy"));
	exports.Set("uffdZeropage", Napi::Function::New(env, UffdZeropage, "uffdZeropage"));
	exports.Set("uffdWriteprotect", Napi::Function::New(env, UffdWriteprotect, "uffdWriteprotect"));
	exports.Set("uffdContinue", Napi::Function::New(env, UffdContinue, "uffdContinue"));
	exports.Set("uffdMove", Napi::Function::New(env, UffdMove, "uffdMove"));
	exports.Set("uffdPoison", Napi::Function::New(env, UffdPoison, "uffdPoison"));
	exports.Set("uffdRead", Napi::Function::New(env, UffdRead, "uffdRead"));
	exports.Set("uffdDeliveryStart", Napi::Function::New(env, DeliveryStart, "uffdDeliveryStart"));
	exports.Set("uffdDeliveryRef", Napi::Function::New(env, DeliveryRef, "uffdDeliveryRef"));
	exports.Set("uffdPollStart", Napi::Function::New(env, PollStart, "uffdPollStart"));
	exports.Set("uffdPollStop", Napi::Function::New(env, PollStop, "uffdPollStop"));
	exports.Set("uffdPollRef", Napi::Function::New(env, PollRef, "uffdPollRef"));
	exports.Set("uffdReaderStop", Napi::Function::New(env, ReaderStop, "uffdReaderStop"));
	exports.Set("uffdServerStart", Napi::Function::New(env, ServerStart, "uffdServerStart"));
	exports.Set("uffdServerStats", Napi::Function::New(env, ServerStats, "uffdServerStats"));
	exports.Set("uffdServerStop", Napi::Function::New(env, ServerStop, "uffdServerStop"));

	Napi::Object c = Napi::Object::New(env);
#define C(x) c.Set(#x, Napi::Number::New(env, (double)(x)))
	C(O_CLOEXEC); C(O_NONBLOCK); C(UFFD_USER_MODE_ONLY); C(UFFD_API);
	C(UFFD_FEATURE_PAGEFAULT_FLAG_WP); C(UFFD_FEATURE_EVENT_FORK); C(UFFD_FEATURE_EVENT_REMAP);
	C(UFFD_FEATURE_EVENT_REMOVE); C(UFFD_FEATURE_MISSING_HUGETLBFS); C(UFFD_FEATURE_MISSING_SHMEM);
	C(UFFD_FEATURE_EVENT_UNMAP); C(UFFD_FEATURE_SIGBUS); C(UFFD_FEATURE_THREAD_ID);
	C(UFFD_FEATURE_MINOR_HUGETLBFS); C(UFFD_FEATURE_MINOR_SHMEM); C(UFFD_FEATURE_EXACT_ADDRESS);
	C(UFFD_FEATURE_WP_HUGETLBFS_SHMEM); C(UFFD_FEATURE_WP_UNPOPULATED); C(UFFD_FEATURE_POISON);
	C(UFFD_FEATURE_WP_ASYNC); C(UFFD_FEATURE_MOVE);
	C(_UFFDIO_REGISTER); C(_UFFDIO_UNREGISTER); C(_UFFDIO_WAKE); C(_UFFDIO_COPY);
	C(_UFFDIO_ZEROPAGE); C(_UFFDIO_MOVE); C(_UFFDIO_WRITEPROTECT); C(_UFFDIO_CONTINUE);
	C(_UFFDIO_POISON); C(_UFFDIO_API);
	C(UFFDIO_REGISTER_MODE_MISSING); C(UFFDIO_REGISTER_MODE_WP); C(UFFDIO_REGISTER_MODE_MINOR);
	C(UFFDIO_COPY_MODE_DONTWAKE); C(UFFDIO_COPY_MODE_WP); C(UFFDIO_ZEROPAGE_MODE_DONTWAKE);
	C(UFFDIO_WRITEPROTECT_MODE_WP); C(UFFDIO_WRITEPROTECT_MODE_DONTWAKE);
	C(UFFDIO_CONTINUE_MODE_DONTWAKE); C(UFFDIO_CONTINUE_MODE_WP);
	C(UFFDIO_MOVE_MODE_DONTWAKE); C(UFFDIO_MOVE_MODE_ALLOW_SRC_HOLES);
	C(UFFDIO_POISON_MODE_DONTWAKE);
	C(UFFD_EVENT_PAGEFAULT); C(UFFD_EVENT_FORK); C(UFFD_EVENT_REMAP); C(UFFD_EVENT_REMOVE);
	C(UFFD_EVENT_UNMAP);
	C(UFFD_PAGEFAULT_FLAG_WRITE); C(UFFD_PAGEFAULT_FLAG_WP); C(UFFD_PAGEFAULT_FLAG_MINOR);
	C(POLICY_COPY); C(POLICY_ZEROPAGE);
	c.Set("POLL_HEADER", Napi::Number::New(env, (double)POLL_HEADER));
	c.Set("UFFD_MSG_SIZE", Napi::Number::New(env, (double)sizeof(struct uffd_msg)));
#undef C
	exports.Set("uffdConstants", c);
}
