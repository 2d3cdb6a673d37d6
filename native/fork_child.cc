// Fork scenarios: run a list of memory operations in a real forked child.
//
// Everything the child needs (operation list, bytes to write, a buffer for
// reads) is prepared before fork(); after fork the child runs only this file's
// code and async-signal-safe system calls, no JavaScript and no allocation,
// reports each operation through a pipe and leaves with _exit().
//
// The parent reads the pipe on its own thread (not the JavaScript thread, not
// the libuv pool) and hands each record to JavaScript through a thread-safe
// function, so the JavaScript thread stays free (for example to serve
// userfaults the child's accesses raise) while the child runs.
//
// An IOCTL operation lets the child act on a file it inherited (a DRM file
// shared with the parent): objects it creates belong to the child's mm.
//
// A WAIT operation makes the child report "waiting" and block on a second pipe
// until the parent writes one byte to it (forkResume): that is how a test
// stages a copy-on-write race between child steps.
#include "addon.h"
#include "fd_io.h"
#include "syscall_error.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cerrno>
#include <cstring>
#include <thread>
#include <memory>
#include <mutex>
#include <vector>

namespace {

enum OpCode : uint32_t {
	OP_WRITE = 1,     // copy `length` bytes of data to addr (CPU stores)
	OP_READ = 2,      // copy `length` bytes from addr (CPU loads) and report them
	OP_MADVISE = 3,   // madvise(addr, length, arg)
	OP_MPROTECT = 4,  // mprotect(addr, length, arg)
	OP_MUNMAP = 5,    // munmap(addr, length)
	OP_SLEEP = 6,     // sleep arg microseconds
	OP_WAIT = 7,      // report, then block until the parent resumes
	OP_FILL = 8,      // memset(addr, arg, length)
	OP_IOCTL = 9,     // ioctl(arg, addr, copy of data); reports the argument after the call
};

enum RecordKind : uint32_t {
	REC_RESULT = 0,
	REC_WAIT = 1,
};

struct Op {
	uint32_t code;
	uint64_t addr;
	uint64_t length;
	int64_t arg;
	size_t dataOff;   // OP_WRITE, OP_IOCTL: offset of its bytes in the shared data buffer
};

struct Record {
	uint32_t index;
	uint32_t kind;
	int32_t err;      // positive errno, 0 on success
	uint32_t nbytes;  // bytes that follow (OP_READ, OP_IOCTL)
};

struct Event {
	enum { RESULT, WAIT, EXIT } type;
	Record rec;
	std::vector<uint8_t> bytes;
	int status;
	pid_t pid;
};

[[noreturn]] void RunChild(const std::vector<Op> &ops, const uint8_t *data, uint8_t *readBuf,
			   int resFd, int ctlFd)
{
	// Node installs its own SIGSEGV/SIGBUS handlers; a bad access in the
	// child must kill it with the signal the parent will report.
	struct sigaction dfl = {};
	dfl.sa_handler = SIG_DFL;
	sigaction(SIGSEGV, &dfl, nullptr);
	sigaction(SIGBUS, &dfl, nullptr);
	sigaction(SIGPIPE, &dfl, nullptr);

	for (size_t i = 0; i < ops.size(); i++) {
		const Op &op = ops[i];
		Record rec = {(uint32_t)i, REC_RESULT, 0, 0};
		int r = 0;
		switch (op.code) {
		case OP_WRITE:
			memcpy((void *)op.addr, data + op.dataOff, op.length);
			break;
		case OP_FILL:
			memset((void *)op.addr, (int)op.arg, op.length);
			break;
		case OP_READ:
			memcpy(readBuf, (const void *)op.addr, op.length);
			rec.nbytes = (uint32_t)op.length;
			break;
		case OP_IOCTL:
			// the argument struct is copied so the parent sees what the
			// kernel wrote back (a new handle); fd and request as given
			memcpy(readBuf, data + op.dataOff, op.length);
			r = ioctl((int)op.arg, (unsigned long)op.addr, readBuf) < 0 ? -1 : 0;
			rec.nbytes = (uint32_t)op.length;
			break;
		case OP_MADVISE:
			r = madvise((void *)op.addr, op.length, (int)op.arg);
			break;
		case OP_MPROTECT:
			r = mprotect((void *)op.addr, op.length, (int)op.arg);
			break;
		case OP_MUNMAP:
			r = munmap((void *)op.addr, op.length);
			break;
		case OP_SLEEP: {
			struct timespec ts = {op.arg / 1000000, (op.arg % 1000000) * 1000};
			while (nanosleep(&ts, &ts) && errno == EINTR)
				;
			break;
		}
		case OP_WAIT: {
			rec.kind = REC_WAIT;
			if (!WriteAll(resFd, &rec, sizeof(rec)))
				_exit(127);
			char c;
			ReadAll(ctlFd, &c, 1);  // EOF (parent gave up) also resumes
			rec.kind = REC_RESULT;
			break;
		}
		default:
			r = -1;
			errno = EINVAL;
		}
		if (r)
			rec.err = errno;
		if (!WriteAll(resFd, &rec, sizeof(rec)))
			_exit(127);
		if (rec.nbytes && !WriteAll(resFd, readBuf, rec.nbytes))
			_exit(127);
	}
	_exit(0);
}

// Builds the event object and calls onEvent.
void DeliverEvent(Napi::Env env, Napi::Function cb, const Event *ev)
{
	Napi::Object o = Napi::Object::New(env);
	switch (ev->type) {
	case Event::RESULT:
	case Event::WAIT:
		o.Set("type", ev->type == Event::WAIT ? "wait" : "result");
		o.Set("index", ev->rec.index);
		o.Set("errno", Napi::Number::New(env, -ev->rec.err));
		if (ev->rec.err) {
			const char *name = strerrorname_np(ev->rec.err);
			o.Set("code", name ? name : "EUNKNOWN");
		}
		if (ev->rec.nbytes)
			o.Set("bytes", Napi::Buffer<uint8_t>::Copy(env, ev->bytes.data(), ev->bytes.size()));
		break;
	case Event::EXIT:
		o.Set("type", "exit");
		o.Set("pid", ev->pid);
		o.Set("status", ev->status);
		if (WIFEXITED(ev->status))
			o.Set("exitCode", WEXITSTATUS(ev->status));
		else
			o.Set("exitCode", env.Null());
		if (WIFSIGNALED(ev->status))
			o.Set("signal", WTERMSIG(ev->status));
		else
			o.Set("signal", env.Null());
		break;
	}
	cb.Call({o});
}

void Deliver(Napi::Env env, Napi::Function cb, Event *ev)
{
	// The environment is going away (the process exits): nobody to tell.
	if (env == nullptr || cb.IsEmpty()) {
		delete ev;
		return;
	}
	// A throwing callback, or one called while Node tears the environment
	// down (the child killed at exit), must not escape as a C++ exception
	// (std::terminate): hand the error back to JavaScript, which reports it as
	// uncaught, or drop it when JavaScript can no longer run.
	try {
		DeliverEvent(env, cb, ev);
	} catch (const Napi::Error &e) {
		try {
			e.ThrowAsJavaScriptException();
		} catch (...) {
		}
	}
	delete ev;
}

// Node frees a thread-safe function when the environment is torn down (the
// process exits), whether or not a thread still holds it: a Reader waking up
// then (the child killed at exit, or ending at that moment) must not call it.
// An environment cleanup hook, which runs before the function is freed (hooks
// run in reverse order of registration), sets `closing` under the lock the
// Reader holds around every call.
struct ReaderGate {
	std::mutex lock;
	bool closing = false;
};

void CloseGate(void *arg)
{
	auto *gate = static_cast<std::shared_ptr<ReaderGate> *>(arg);
	{
		std::lock_guard<std::mutex> g((*gate)->lock);
		(*gate)->closing = true;
	}
	delete gate;
}

// Hands ev to JavaScript unless the environment is closing. False: closing.
bool Post(Napi::ThreadSafeFunction &tsfn, ReaderGate &gate, Event *ev)
{
	std::lock_guard<std::mutex> g(gate.lock);
	if (gate.closing) {
		delete ev;
		return false;
	}
	tsfn.BlockingCall(ev, Deliver);
	return true;
}

void Reader(Napi::ThreadSafeFunction tsfn, int resFd, pid_t pid, std::shared_ptr<ReaderGate> gate)
{
	for (;;) {
		Event *ev = new Event{};
		if (!ReadAll(resFd, &ev->rec, sizeof(ev->rec))) {
			delete ev;
			break;
		}
		ev->type = ev->rec.kind == REC_WAIT ? Event::WAIT : Event::RESULT;
		if (ev->rec.nbytes) {
			ev->bytes.resize(ev->rec.nbytes);
			if (!ReadAll(resFd, ev->bytes.data(), ev->rec.nbytes)) {
				delete ev;
				break;
			}
		}
		if (!Post(tsfn, *gate, ev))
			break;
	}
	close(resFd);
	Event *ev = new Event{};
	ev->type = Event::EXIT;
	ev->pid = pid;
	while (waitpid(pid, &ev->status, 0) < 0 && errno == EINTR)
		;
	std::lock_guard<std::mutex> g(gate->lock);
	if (gate->closing) {
		delete ev;
		return;
	}
	tsfn.BlockingCall(ev, Deliver);
	tsfn.Release();
}

// forkRun(ops, onEvent, unref?) -> { pid, ctlFd }
//   unref: the reader's thread-safe function does not keep the event loop
//   alive; the TypeScript layer keeps it alive itself while the child runs
//   (and lets it go while the child waits for a resume nobody may send).
//   ops: [{ code, addr, length, arg, data? }] (validated by the TypeScript layer)
//   onEvent({type: 'result'|'wait'|'exit', ...}) is called on the JS thread.
// ctlFd belongs to the caller: forkResume(ctlFd) resumes a WAIT, close it after 'exit'.
Napi::Value ForkRun(const Napi::CallbackInfo &info)
{
	Napi::Env env = info.Env();
	Napi::Array list = info[0].As<Napi::Array>();
	Napi::Function cb = info[1].As<Napi::Function>();
	std::vector<Op> ops;
	std::vector<uint8_t> data;
	uint64_t maxRead = 0;
	for (uint32_t i = 0; i < list.Length(); i++) {
		Napi::Object o = list.Get(i).As<Napi::Object>();
		Op op = {};
		op.code = o.Get("code").As<Napi::Number>().Uint32Value();
		bool lossless;
		op.addr = o.Get("addr").As<Napi::BigInt>().Uint64Value(&lossless);
		op.length = (uint64_t)o.Get("length").As<Napi::Number>().Int64Value();
		op.arg = o.Get("arg").As<Napi::Number>().Int64Value();
		if (op.code == OP_WRITE || op.code == OP_IOCTL) {
			Napi::Uint8Array d = o.Get("data").As<Napi::Uint8Array>();
			if (d.ByteLength() != op.length)
				throw Napi::RangeError::New(env, "write data length differs from op length");
			op.dataOff = data.size();
			data.insert(data.end(), d.Data(), d.Data() + d.ByteLength());
		}
		if ((op.code == OP_READ || op.code == OP_IOCTL) && op.length > maxRead)
			maxRead = op.length;
		if ((op.code == OP_READ || op.code == OP_IOCTL) && op.length > UINT32_MAX)
			throw Napi::RangeError::New(env, "read length too large");
		ops.push_back(op);
	}
	std::vector<uint8_t> readBuf(maxRead ? maxRead : 1);

	int res[2], ctl[2];
	if (pipe2(res, O_CLOEXEC))
		ThrowSyscallError(env, errno, "pipe2", {});
	if (pipe2(ctl, O_CLOEXEC)) {
		int e = errno;
		close(res[0]);
		close(res[1]);
		ThrowSyscallError(env, e, "pipe2", {});
	}
	Napi::ThreadSafeFunction tsfn = Napi::ThreadSafeFunction::New(env, cb, "mirrorlab.forkChild", 0, 1);
	if (info.Length() > 2 && info[2].ToBoolean())
		tsfn.Unref(env);
	pid_t pid = fork();
	if (pid == 0) {
		close(res[0]);
		close(ctl[1]);
		RunChild(ops, data.data(), readBuf.data(), res[1], ctl[0]);
	}
	int e = errno;
	close(res[1]);
	close(ctl[0]);
	if (pid < 0) {
		close(res[0]);
		close(ctl[1]);
		tsfn.Release();
		ThrowSyscallError(env, e, "fork", {});
	}
	auto gate = std::make_shared<ReaderGate>();
	// The hook's reference lives until the environment closes (a few bytes per fork).
	napi_add_env_cleanup_hook(env, CloseGate, new std::shared_ptr<ReaderGate>(gate));
	std::thread(Reader, tsfn, res[0], pid, gate).detach();
	Napi::Object r = Napi::Object::New(env);
	r.Set("pid", pid);
	r.Set("ctlFd", ctl[1]);
	return r;
}

// forkResume(ctlFd): let a child blocked in a WAIT operation continue.
Napi::Value ForkResume(const Napi::CallbackInfo &info)
{
	int fd = ArgFd(info, 0, "ctlFd");
	char c = 1;
	ssize_t n;
	do
		n = write(fd, &c, 1);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		ThrowSyscallError(info.Env(), errno, "write", {{"fd", (uint64_t)fd}});
	return info.Env().Undefined();
}

} // namespace

void InitForkChild(Napi::Env env, Napi::Object exports)
{
	exports.Set("forkRun", Napi::Function::New(env, ForkRun, "forkRun"));
	exports.Set("forkResume", Napi::Function::New(env, ForkResume, "forkResume"));
	Napi::Object c = Napi::Object::New(env);
#define C(x) c.Set(#x, Napi::Number::New(env, (double)(x)))
	C(OP_WRITE); C(OP_READ); C(OP_MADVISE); C(OP_MPROTECT); C(OP_MUNMAP);
	C(OP_SLEEP); C(OP_WAIT); C(OP_FILL); C(OP_IOCTL);
#undef C
	exports.Set("forkConstants", c);
}
