// Memory accesses made from a thread other than the JavaScript thread.
//
// A range registered with userfaultfd must not be touched by the thread that
// resolves its faults: it would wait forever for itself. These accessors run
// on a new thread each (not the libuv pool, whose few threads a held fault
// would block) and settle a Promise through a thread-safe function when done.
//
// Access i touches `width` bytes at addr + i * stride (the last one clipped to
// the range) and is timed with CLOCK_MONOTONIC, fault included. With a start
// time, the thread sleeps until then (TIMER_ABSTIME) before the first access,
// so several accessors can be lined up to start together.
//
// SIGBUS (a poisoned page, UFFD_FEATURE_SIGBUS, a truncated file) and SIGSEGV
// (a hole, a read-only page written, a range unmapped while a fault on it was
// held) raised on an accessor thread end its loop and are reported in the
// result instead of ending the process; on any other thread the previous
// disposition of the signal applies.
//
// forkAccess() makes the same accesses in a forked child (native code only
// after fork, results through a pipe, _exit), for copy-on-write and
// UFFD_EVENT_FORK scenarios.
#include "addon.h"
#include "fd_io.h"
#include "syscall_error.h"

#include <cerrno>
#include <csetjmp>
#include <csignal>
#include <cstring>
#include <mutex>
#include <system_error>
#include <thread>
#include <vector>

#include <sys/syscall.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>

namespace {

uint64_t NowNs()
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

// ---------------------------------------------------------------- SIGBUS, SIGSEGV

__attribute__((tls_model("initial-exec"))) thread_local sigjmp_buf *tl_jmp;
__attribute__((tls_model("initial-exec"))) thread_local int tl_signo;
__attribute__((tls_model("initial-exec"))) thread_local int tl_code;
__attribute__((tls_model("initial-exec"))) thread_local uintptr_t tl_addr;

struct sigaction g_old_bus, g_old_segv;
std::once_flag g_handlers_once;

// On an accessor thread (tl_jmp set) the fault ends the access loop; anywhere
// else the handler that was installed before ours (V8's, or the default) runs.
void AccessFaultHandler(int sig, siginfo_t *si, void *uc)
{
	if (tl_jmp) {
		tl_signo = sig;
		tl_code = si->si_code;
		tl_addr = (uintptr_t)si->si_addr;
		siglongjmp(*tl_jmp, 1);
	}
	struct sigaction &old = sig == SIGSEGV ? g_old_segv : g_old_bus;
	if (old.sa_flags & SA_SIGINFO) {
		old.sa_sigaction(sig, si, uc);
	} else if (old.sa_handler == SIG_DFL) {
		signal(sig, SIG_DFL);
		raise(sig);
	} else if (old.sa_handler != SIG_IGN) {
		old.sa_handler(sig);
	}
}

void InstallFaultHandlers()
{
	std::call_once(g_handlers_once, [] {
		struct sigaction sa = {};
		sa.sa_sigaction = AccessFaultHandler;
		sa.sa_flags = SA_SIGINFO | SA_NODEFER | SA_ONSTACK;
		sigemptyset(&sa.sa_mask);
		sigaction(SIGBUS, &sa, &g_old_bus);
		sigaction(SIGSEGV, &sa, &g_old_segv);
	});
}

// ---------------------------------------------------------------- accesses

struct Access {
	uint64_t addr, length, stride, width;
	bool write;
	std::vector<uint8_t> data;	// write source, total bytes (or empty: fill)
	uint8_t fill;
	uint64_t startAtNs = 0;		// CLOCK_MONOTONIC deadline to wait for before the first access

	// results
	int tid = 0;
	uint64_t startNs = 0, endNs = 0;
	size_t completed = 0;
	std::vector<uint8_t> bytes;	// read results, concatenated
	std::vector<double> latencyNs;
	std::vector<double> offsetNs;	// start of each access, from startNs
	int signo = 0, sigcode = 0;
	uint64_t sigaddr = 0;

	size_t Count() const
	{
		return (size_t)((length + stride - 1) / stride);
	}

	size_t TotalBytes() const
	{
		size_t n = Count(), total = 0;
		for (size_t i = 0; i < n; i++)
			total += std::min<uint64_t>(width, length - i * stride);
		return total;
	}

	void Prepare()
	{
		latencyNs.assign(Count(), 0);
		offsetNs.assign(Count(), 0);
		if (!write)
			bytes.assign(TotalBytes(), 0);
	}

	volatile size_t cursor = 0;	// index of the access in progress; survives siglongjmp

	void Loop()
	{
		size_t n = Count(), off = 0;
		for (size_t k = 0; k < n; k++) {
			cursor = k;
			uint8_t *p = (uint8_t *)(addr + k * stride);
			size_t w = std::min<uint64_t>(width, length - k * stride);
			uint64_t t0 = NowNs();
			if (write) {
				if (data.empty())
					memset(p, fill, w);
				else
					memcpy(p, data.data() + off, w);
			} else {
				memcpy(bytes.data() + off, p, w);
			}
			uint64_t t1 = NowNs();
			latencyNs[k] = (double)(t1 - t0);
			offsetNs[k] = (double)(t0 - startNs);
			off += w;
		}
		cursor = n;
	}

	// Runs on the accessing thread (or in the forked child). No allocation.
	void Run(bool catchFaults)
	{
		sigjmp_buf jb;

		tid = (int)syscall(SYS_gettid);
		if (startAtNs) {
			struct timespec ts = {(time_t)(startAtNs / 1000000000ull), (long)(startAtNs % 1000000000ull)};
			while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr) == EINTR)
				;
		}
		startNs = NowNs();
		if (catchFaults) {
			if (sigsetjmp(jb, 1)) {
				tl_jmp = nullptr;
				signo = tl_signo;
				sigcode = tl_code;
				sigaddr = tl_addr;
				completed = cursor;
				endNs = NowNs();
				return;
			}
			tl_jmp = &jb;
		}
		Loop();
		tl_jmp = nullptr;
		completed = cursor;
		endNs = NowNs();
	}
};

struct Job {
	Access a;
	Napi::Promise::Deferred deferred;
	bool forked = false;
	int pid = 0;
	int status = 0;
	int err = 0;		// errno of a failed fork/pipe
	const char *errCall = nullptr;

	explicit Job(Napi::Env env) : deferred(Napi::Promise::Deferred::New(env)) {}
};

Napi::Object ResultObject(Napi::Env env, Job *job)
{
	Access &a = job->a;
	Napi::Object r = Napi::Object::New(env);
	r.Set("tid", Napi::Number::New(env, a.tid));
	r.Set("startNs", Napi::BigInt::New(env, a.startNs));
	r.Set("endNs", Napi::BigInt::New(env, a.endNs));
	r.Set("completed", Napi::Number::New(env, (double)a.completed));
	Napi::Float64Array lat = Napi::Float64Array::New(env, a.completed);
	if (a.completed)
		memcpy(lat.Data(), a.latencyNs.data(), a.completed * sizeof(double));
	r.Set("latencyNs", lat);
	Napi::Float64Array offs = Napi::Float64Array::New(env, a.completed);
	if (a.completed)
		memcpy(offs.Data(), a.offsetNs.data(), a.completed * sizeof(double));
	r.Set("offsetNs", offs);
	if (!a.write) {
		Napi::Buffer<uint8_t> b = Napi::Buffer<uint8_t>::Copy(env, a.bytes.data(), a.bytes.size());
		r.Set("bytes", Napi::Uint8Array::New(env, a.bytes.size(), b.ArrayBuffer(), b.ByteOffset()));
	}
	if (a.signo) {
		Napi::Object s = Napi::Object::New(env);
		s.Set("signal", Napi::String::New(env, a.signo == SIGSEGV ? "SIGSEGV" : "SIGBUS"));
		s.Set("code", Napi::Number::New(env, a.sigcode));
		s.Set("address", Napi::BigInt::New(env, a.sigaddr));
		r.Set("signal", s);
	} else {
		r.Set("signal", env.Null());
	}
	if (job->forked) {
		r.Set("pid", Napi::Number::New(env, job->pid));
		if (WIFEXITED(job->status))
			r.Set("exitCode", Napi::Number::New(env, WEXITSTATUS(job->status)));
		else
			r.Set("exitCode", env.Null());
		if (WIFSIGNALED(job->status))
			r.Set("termSignal", Napi::String::New(env, strsignal(WTERMSIG(job->status))));
		else
			r.Set("termSignal", env.Null());
	}
	return r;
}

void Complete(Napi::Env env, Napi::Function, std::nullptr_t *, Job *job)
{
	if (env != nullptr) {
		if (job->err)
			job->deferred.Reject(SyscallError(env, job->err, job->errCall).Value());
		else
			job->deferred.Resolve(ResultObject(env, job));
	}
	delete job;
}

using AccessTsfn = Napi::TypedThreadSafeFunction<std::nullptr_t, Job, Complete>;

// Reads the spec { addr, length, stride, width, write, data?, fill? }.
void ReadSpec(const Napi::CallbackInfo &info, Access &a)
{
	Napi::Env env = info.Env();
	a.addr = ArgU64(info, 0, "addr");
	a.length = ArgU64(info, 1, "length");
	a.stride = ArgU64(info, 2, "stride");
	a.width = ArgU64(info, 3, "width");
	a.write = info[4].ToBoolean();
	a.fill = (uint8_t)(info.Length() > 6 && info[6].IsNumber() ? info[6].As<Napi::Number>().Uint32Value() : 0);
	if (info.Length() > 7 && !info[7].IsUndefined())
		a.startAtNs = ArgU64(info, 7, "startAtNs");
	if (a.length == 0 || a.stride == 0 || a.width == 0 || a.addr + a.length < a.addr) {
		Napi::RangeError e = Napi::RangeError::New(env, "length, stride and width must be non-zero and addr + length must not overflow");
		e.Set("code", Napi::String::New(env, "ERR_OUT_OF_RANGE"));
		throw e;
	}
	if (a.write && info.Length() > 5 && info[5].IsTypedArray()) {
		Napi::TypedArray ta = info[5].As<Napi::TypedArray>();
		if (ta.ByteLength() != a.TotalBytes()) {
			Napi::RangeError e = Napi::RangeError::New(env, "data must hold exactly the bytes the accesses write");
			e.Set("code", Napi::String::New(env, "ERR_OUT_OF_RANGE"));
			throw e;
		}
		const uint8_t *src = (const uint8_t *)ta.ArrayBuffer().Data() + ta.ByteOffset();
		a.data.assign(src, src + ta.ByteLength());
	}
	a.Prepare();
}

// threadAccess(addr, length, stride, width, write, data?, fill?, startAtNs?) -> Promise<result>
Napi::Value ThreadAccess(const Napi::CallbackInfo &info)
{
	Napi::Env env = info.Env();
	auto *job = new Job(env);
	try {
		ReadSpec(info, job->a);
	} catch (...) {
		delete job;
		throw;
	}
	InstallFaultHandlers();
	Napi::Promise promise = job->deferred.Promise();
	AccessTsfn tsfn = AccessTsfn::New(env, "mirrorlab.threadAccess", 0, 1);
	// The TypeScript layer keeps the event loop alive while the access runs
	// (and lets it go while the access is held on a fault JavaScript owns).
	tsfn.Unref(env);
	try {
		std::thread([job, tsfn] {
			job->a.Run(true);
			tsfn.BlockingCall(job);
			tsfn.Release();
		}).detach();
	} catch (const std::system_error &e) {
		tsfn.Release();
		delete job;
		ThrowSyscallError(env, e.code().value(), "pthread_create");
	}
	return promise;
}

// Runs on a helper thread: fork, let the child access and report, reap it.
void ForkAndAccess(Job *job)
{
	Access &a = job->a;
	int pfd[2];
	if (pipe2(pfd, O_CLOEXEC)) {
		job->err = errno;
		job->errCall = "pipe2";
		return;
	}
	pid_t pid = fork();
	if (pid < 0) {
		job->err = errno;
		job->errCall = "fork";
		close(pfd[0]);
		close(pfd[1]);
		return;
	}
	if (pid == 0) {
		// Child: only this thread exists; no allocation, no JavaScript.
		close(pfd[0]);
		signal(SIGBUS, SIG_DFL);
		signal(SIGSEGV, SIG_DFL);
		a.Run(false);
		uint64_t hdr[3] = {a.startNs, a.endNs, a.completed};
		bool ok = WriteAll(pfd[1], hdr, sizeof(hdr)) &&
			  WriteAll(pfd[1], a.latencyNs.data(), a.latencyNs.size() * sizeof(double)) &&
			  WriteAll(pfd[1], a.offsetNs.data(), a.offsetNs.size() * sizeof(double)) &&
			  WriteAll(pfd[1], a.bytes.data(), a.bytes.size());
		_exit(ok ? 0 : 1);
	}
	close(pfd[1]);
	job->pid = pid;
	uint64_t hdr[3] = {0, 0, 0};
	if (ReadAll(pfd[0], hdr, sizeof(hdr)) &&
	    ReadAll(pfd[0], a.latencyNs.data(), a.latencyNs.size() * sizeof(double)) &&
	    ReadAll(pfd[0], a.offsetNs.data(), a.offsetNs.size() * sizeof(double)) &&
	    ReadAll(pfd[0], a.bytes.data(), a.bytes.size())) {
		a.startNs = hdr[0];
		a.endNs = hdr[1];
		a.completed = (size_t)hdr[2];
	} else {
		a.completed = 0;	// the child died before reporting
	}
	close(pfd[0]);
	while (waitpid(pid, &job->status, 0) < 0 && errno == EINTR)
		;
	a.tid = pid;
}

// forkAccess(addr, length, stride, width, write, data?, fill?, startAtNs?) -> Promise<result & {pid, exitCode, termSignal}>
Napi::Value ForkAccess(const Napi::CallbackInfo &info)
{
	Napi::Env env = info.Env();
	auto *job = new Job(env);
	job->forked = true;
	try {
		ReadSpec(info, job->a);
	} catch (...) {
		delete job;
		throw;
	}
	Napi::Promise promise = job->deferred.Promise();
	AccessTsfn tsfn = AccessTsfn::New(env, "mirrorlab.forkAccess", 0, 1);
	tsfn.Unref(env);
	try {
		std::thread([job, tsfn] {
			ForkAndAccess(job);
			tsfn.BlockingCall(job);
			tsfn.Release();
		}).detach();
	} catch (const std::system_error &e) {
		tsfn.Release();
		delete job;
		ThrowSyscallError(env, e.code().value(), "pthread_create");
	}
	return promise;
}

Napi::Value Gettid(const Napi::CallbackInfo &info)
{
	return Napi::Number::New(info.Env(), (double)syscall(SYS_gettid));
}

Napi::Value MonotonicNs(const Napi::CallbackInfo &info)
{
	return Napi::BigInt::New(info.Env(), NowNs());
}

} // namespace

void InitThreadAccess(Napi::Env env, Napi::Object exports)
{
	exports.Set("threadAccess", Napi::Function::New(env, ThreadAccess, "threadAccess"));
	exports.Set("forkAccess", Napi::Function::New(env, ForkAccess, "forkAccess"));
	exports.Set("gettid", Napi::Function::New(env, Gettid, "gettid"));
	exports.Set("monotonicNs", Napi::Function::New(env, MonotonicNs, "monotonicNs"));
}
