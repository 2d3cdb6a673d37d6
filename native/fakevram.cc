// fakevram: thin wrappers over the /dev/fakevram0 ioctls (uapi/fakevram.h),
// the syscalls that try GUP on a mapping (to show they refuse device memory),
// and the pattern loops the data-integrity checks need (guest JavaScript is
// far too slow to touch a GiB page by page).
//
//   fakevramInfo(fd) -> { size, physBase (BigInt), kind, caps, pageShift, pmdShift, pudShift, kernelVersion }
//   fakevramSetPolicy(fd, maxEntry, flags)       FAKEVRAM_IOC_SET_POLICY
//   fakevramGetPolicy(fd) -> { maxEntry, flags }
//   fakevramCounters(fd, reset) -> { faults: [pte, pmd, pud], hugeFaultCalls, fallbacks,
//                                    prefaultEntries, prefaultSkipped, sigbus, zaps, mmaps,
//                                    vmaOpens, vmaCloses, splitZaps }
//   fakevramEvict(fd, offset, length) -> { offset, length }   (the range zapped)
//   fakevramAccess(fd, offset, buffer, write)    FAKEVRAM_IOC_ACCESS with a Uint8Array
//   fakevramConstants: { IOC_*, KIND_*, ENTRY_*, CAP_*, POLICY_*, SIZEOF_* }
//
//   patternFill(addr, length, seed, base = 0)    one u64 per 4 KiB page: ((base + offset) ^ seed)
//   patternCheck(addr, length, seed, base) -> number of 4 KiB pages that differ
//
//   processVmReadv(pid, local, remote, length) / processVmWritev(...) -> bytes
//   vmspliceFrom(addr, length) -> bytes          vmsplice() into a fresh pipe
//   futexWait(addr, val, private) -> 0           FUTEX_WAIT, no timeout: call with val != *addr
//   preadInto(fd, addr, length, offset) -> bytes pread() into memory at addr
//   pipeRoundTrip(src, dst, length) -> { written, read }  write(2) from src into a
//                                                pipe, read(2) back into dst (plain copies)
// Each failing call throws the syscall error (code, errno, syscall, args).
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <fcntl.h>
#include <linux/futex.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>
#include <uapi/fakevram.h>

#include "addon.h"
#include "syscall_error.h"

namespace {

void Ioctl(Napi::Env env, int fd, unsigned long req, void *arg)
{
	if (ioctl(fd, req, arg) < 0)
		ThrowSyscallError(env, errno, "ioctl",
				  {{"fd", (uint64_t)fd}, {"request", req, true}});
}

Napi::Array U64Array(Napi::Env env, const __u64 *v, size_t n)
{
	Napi::Array a = Napi::Array::New(env, n);
	for (size_t i = 0; i < n; i++)
		a.Set(i, Napi::Number::New(env, (double)v[i]));
	return a;
}

Napi::Value Info(const Napi::CallbackInfo &info)
{
	Napi::Env env = info.Env();
	int fd = ArgFd(info, 0, "fd");
	struct fakevram_info in;
	memset(&in, 0, sizeof(in));
	Ioctl(env, fd, FAKEVRAM_IOC_INFO, &in);
	Napi::Object o = Napi::Object::New(env);
	o.Set("size", Napi::Number::New(env, (double)in.size));
	o.Set("physBase", Napi::BigInt::New(env, (uint64_t)in.phys_base));
	o.Set("kind", Napi::Number::New(env, in.kind));
	o.Set("caps", Napi::Number::New(env, in.caps));
	o.Set("pageShift", Napi::Number::New(env, in.page_shift));
	o.Set("pmdShift", Napi::Number::New(env, in.pmd_shift));
	o.Set("pudShift", Napi::Number::New(env, in.pud_shift));
	o.Set("kernelVersion", Napi::Number::New(env, in.kernel_version));
	return o;
}

Napi::Value SetPolicy(const Napi::CallbackInfo &info)
{
	int fd = ArgFd(info, 0, "fd");
	struct fakevram_policy p;
	memset(&p, 0, sizeof(p));
	p.max_entry = (__u32)ArgU64(info, 1, "maxEntry");
	p.flags = (__u32)ArgU64(info, 2, "flags");
	Ioctl(info.Env(), fd, FAKEVRAM_IOC_SET_POLICY, &p);
	return info.Env().Undefined();
}

Napi::Value GetPolicy(const Napi::CallbackInfo &info)
{
	Napi::Env env = info.Env();
	int fd = ArgFd(info, 0, "fd");
	struct fakevram_policy p;
	memset(&p, 0, sizeof(p));
	Ioctl(env, fd, FAKEVRAM_IOC_GET_POLICY, &p);
	Napi::Object o = Napi::Object::New(env);
	o.Set("maxEntry", Napi::Number::New(env, p.max_entry));
	o.Set("flags", Napi::Number::New(env, p.flags));
	return o;
}

Napi::Value Counters(const Napi::CallbackInfo &info)
{
	Napi::Env env = info.Env();
	int fd = ArgFd(info, 0, "fd");
	struct fakevram_counters c;
	memset(&c, 0, sizeof(c));
	c.flags = info[1].ToBoolean() ? FAKEVRAM_COUNTERS_RESET : 0;
	Ioctl(env, fd, FAKEVRAM_IOC_COUNTERS, &c);
	Napi::Object o = Napi::Object::New(env);
	o.Set("faults", U64Array(env, c.faults, FAKEVRAM_NR_ENTRY_SIZES));
	o.Set("hugeFaultCalls", U64Array(env, c.huge_fault_calls, FAKEVRAM_NR_ENTRY_SIZES));
	o.Set("fallbacks", U64Array(env, c.fallbacks, FAKEVRAM_NR_ENTRY_SIZES));
	o.Set("prefaultEntries", U64Array(env, c.prefault_entries, FAKEVRAM_NR_ENTRY_SIZES));
	o.Set("prefaultSkipped", Napi::Number::New(env, (double)c.prefault_skipped));
	o.Set("sigbus", Napi::Number::New(env, (double)c.sigbus));
	o.Set("zaps", Napi::Number::New(env, (double)c.zaps));
	o.Set("mmaps", Napi::Number::New(env, (double)c.mmaps));
	o.Set("vmaOpens", Napi::Number::New(env, (double)c.vma_opens));
	o.Set("vmaCloses", Napi::Number::New(env, (double)c.vma_closes));
	o.Set("splitZaps", Napi::Number::New(env, (double)c.split_zaps));
	return o;
}

Napi::Value Evict(const Napi::CallbackInfo &info)
{
	Napi::Env env = info.Env();
	int fd = ArgFd(info, 0, "fd");
	struct fakevram_evict e;
	memset(&e, 0, sizeof(e));
	e.offset = ArgU64(info, 1, "offset");
	e.length = ArgU64(info, 2, "length");
	Ioctl(env, fd, FAKEVRAM_IOC_EVICT, &e);
	Napi::Object o = Napi::Object::New(env);
	o.Set("offset", Napi::Number::New(env, (double)e.offset));
	o.Set("length", Napi::Number::New(env, (double)e.length));
	return o;
}

Napi::Value Access(const Napi::CallbackInfo &info)
{
	Napi::Env env = info.Env();
	int fd = ArgFd(info, 0, "fd");
	uint64_t offset = ArgU64(info, 1, "offset");
	if (!info[2].IsTypedArray())
		throw Napi::TypeError::New(env, "buffer must be a Uint8Array");
	Napi::Uint8Array buf = info[2].As<Napi::Uint8Array>();
	struct fakevram_access a;
	memset(&a, 0, sizeof(a));
	a.offset = offset;
	a.length = buf.ByteLength();
	a.user_ptr = (uintptr_t)buf.Data();
	a.flags = info[3].ToBoolean() ? FAKEVRAM_ACCESS_WRITE : 0;
	Ioctl(env, fd, FAKEVRAM_IOC_ACCESS, &a);
	return env.Undefined();
}

Napi::Object Constants(Napi::Env env)
{
	Napi::Object o = Napi::Object::New(env);
	auto set = [&](const char *k, double v) { o.Set(k, Napi::Number::New(env, v)); };
	set("IOC_INFO", FAKEVRAM_IOC_INFO);
	set("IOC_SET_POLICY", FAKEVRAM_IOC_SET_POLICY);
	set("IOC_GET_POLICY", FAKEVRAM_IOC_GET_POLICY);
	set("IOC_COUNTERS", FAKEVRAM_IOC_COUNTERS);
	set("IOC_EVICT", FAKEVRAM_IOC_EVICT);
	set("IOC_ACCESS", FAKEVRAM_IOC_ACCESS);
	set("KIND_IOMEM", FAKEVRAM_KIND_IOMEM);
	set("KIND_PAGES", FAKEVRAM_KIND_PAGES);
	set("ENTRY_PTE", FAKEVRAM_ENTRY_PTE);
	set("ENTRY_PMD", FAKEVRAM_ENTRY_PMD);
	set("ENTRY_PUD", FAKEVRAM_ENTRY_PUD);
	set("NR_ENTRY_SIZES", FAKEVRAM_NR_ENTRY_SIZES);
	set("CAP_PMD", FAKEVRAM_CAP_PMD);
	set("CAP_PUD", FAKEVRAM_CAP_PUD);
	set("POLICY_PREFAULT", FAKEVRAM_POLICY_PREFAULT);
	set("POLICY_NO_ALIGN", FAKEVRAM_POLICY_NO_ALIGN);
	set("POLICY_FLAGS", FAKEVRAM_POLICY_FLAGS);
	set("COUNTERS_RESET", FAKEVRAM_COUNTERS_RESET);
	set("COUNTERS_FLAGS", FAKEVRAM_COUNTERS_FLAGS);
	set("ACCESS_WRITE", FAKEVRAM_ACCESS_WRITE);
	set("ACCESS_FLAGS", FAKEVRAM_ACCESS_FLAGS);
	set("IOC_MAGIC", FAKEVRAM_IOC_MAGIC);
	set("SIZEOF_INFO", sizeof(struct fakevram_info));
	set("SIZEOF_POLICY", sizeof(struct fakevram_policy));
	set("SIZEOF_COUNTERS", sizeof(struct fakevram_counters));
	set("SIZEOF_EVICT", sizeof(struct fakevram_evict));
	set("SIZEOF_ACCESS", sizeof(struct fakevram_access));
	return o;
}

Napi::Value PatternFill(const Napi::CallbackInfo &info)
{
	uint64_t addr = ArgU64(info, 0, "addr");
	uint64_t length = ArgU64(info, 1, "length");
	uint64_t seed = ArgU64(info, 2, "seed");
	uint64_t base = info[3].IsUndefined() ? 0 : ArgU64(info, 3, "base");
	volatile uint64_t *p = (volatile uint64_t *)addr;
	for (uint64_t off = 0; off + 8 <= length; off += 4096)
		p[off / 8] = (base + off) ^ seed;
	return info.Env().Undefined();
}

Napi::Value PatternCheck(const Napi::CallbackInfo &info)
{
	uint64_t addr = ArgU64(info, 0, "addr");
	uint64_t length = ArgU64(info, 1, "length");
	uint64_t seed = ArgU64(info, 2, "seed");
	uint64_t base = ArgU64(info, 3, "base");
	const volatile uint64_t *p = (const volatile uint64_t *)addr;
	uint64_t bad = 0;
	for (uint64_t off = 0; off + 8 <= length; off += 4096)
		if (p[off / 8] != ((base + off) ^ seed))
			bad++;
	return Napi::Number::New(info.Env(), (double)bad);
}

Napi::Value ProcessVmRw(const Napi::CallbackInfo &info, bool write)
{
	int pid = (int)ArgI64(info, 0, "pid");
	uint64_t local = ArgU64(info, 1, "local");
	uint64_t remote = ArgU64(info, 2, "remote");
	uint64_t length = ArgU64(info, 3, "length");
	struct iovec l = {(void *)local, length}, r = {(void *)remote, length};
	ssize_t n = write ? process_vm_writev(pid, &l, 1, &r, 1, 0)
			  : process_vm_readv(pid, &l, 1, &r, 1, 0);
	if (n < 0)
		ThrowSyscallError(info.Env(), errno, write ? "process_vm_writev" : "process_vm_readv",
				  {{"pid", (uint64_t)pid}, {"local", local, true},
				   {"remote", remote, true}, {"length", length}});
	return Napi::Number::New(info.Env(), (double)n);
}

Napi::Value ProcessVmReadv(const Napi::CallbackInfo &info)
{
	return ProcessVmRw(info, false);
}

Napi::Value ProcessVmWritev(const Napi::CallbackInfo &info)
{
	return ProcessVmRw(info, true);
}

Napi::Value VmspliceFrom(const Napi::CallbackInfo &info)
{
	uint64_t addr = ArgU64(info, 0, "addr");
	uint64_t length = ArgU64(info, 1, "length");
	int p[2];
	if (pipe(p) < 0)
		ThrowSyscallError(info.Env(), errno, "pipe");
	struct iovec v = {(void *)addr, length};
	ssize_t n = vmsplice(p[1], &v, 1, 0);
	int err = errno;
	close(p[0]);
	close(p[1]);
	if (n < 0)
		ThrowSyscallError(info.Env(), err, "vmsplice",
				  {{"addr", addr, true}, {"length", length}});
	return Napi::Number::New(info.Env(), (double)n);
}

Napi::Value FutexWait(const Napi::CallbackInfo &info)
{
	uint64_t addr = ArgU64(info, 0, "addr");
	uint32_t val = (uint32_t)ArgU64(info, 1, "val");
	bool priv = info[2].ToBoolean();
	int op = priv ? FUTEX_WAIT_PRIVATE : FUTEX_WAIT;
	long r = syscall(SYS_futex, (uint32_t *)addr, op, val, nullptr, nullptr, 0);
	if (r < 0)
		ThrowSyscallError(info.Env(), errno, "futex",
				  {{"uaddr", addr, true}, {"op", (uint64_t)op}, {"val", val}});
	return Napi::Number::New(info.Env(), (double)r);
}

Napi::Value PreadInto(const Napi::CallbackInfo &info)
{
	int fd = ArgFd(info, 0, "fd");
	uint64_t addr = ArgU64(info, 1, "addr");
	uint64_t length = ArgU64(info, 2, "length");
	int64_t offset = ArgI64(info, 3, "offset");
	ssize_t n = pread(fd, (void *)addr, length, offset);
	if (n < 0)
		ThrowSyscallError(info.Env(), errno, "pread64",
				  {{"fd", (uint64_t)fd}, {"buf", addr, true}, {"count", length},
				   {"offset", (uint64_t)offset}});
	return Napi::Number::New(info.Env(), (double)n);
}

Napi::Value PipeRoundTrip(const Napi::CallbackInfo &info)
{
	uint64_t src = ArgU64(info, 0, "src");
	uint64_t dst = ArgU64(info, 1, "dst");
	uint64_t length = ArgU64(info, 2, "length");
	int p[2];
	if (pipe(p) < 0)
		ThrowSyscallError(info.Env(), errno, "pipe");
	ssize_t w = write(p[1], (void *)src, length);
	int werr = errno;
	ssize_t r = w > 0 ? read(p[0], (void *)dst, (size_t)w) : 0;
	int rerr = errno;
	close(p[0]);
	close(p[1]);
	if (w < 0)
		ThrowSyscallError(info.Env(), werr, "write", {{"buf", src, true}, {"count", length}});
	if (r < 0)
		ThrowSyscallError(info.Env(), rerr, "read", {{"buf", dst, true}, {"count", (uint64_t)w}});
	Napi::Object o = Napi::Object::New(info.Env());
	o.Set("written", Napi::Number::New(info.Env(), (double)w));
	o.Set("read", Napi::Number::New(info.Env(), (double)r));
	return o;
}

} // namespace

void InitFakevram(Napi::Env env, Napi::Object exports)
{
	exports.Set("fakevramInfo", Napi::Function::New(env, Info, "fakevramInfo"));
	exports.Set("fakevramSetPolicy", Napi::Function::New(env, SetPolicy, "fakevramSetPolicy"));
	exports.Set("fakevramGetPolicy", Napi::Function::New(env, GetPolicy, "fakevramGetPolicy"));
	exports.Set("fakevramCounters", Napi::Function::New(env, Counters, "fakevramCounters"));
	exports.Set("fakevramEvict", Napi::Function::New(env, Evict, "fakevramEvict"));
	exports.Set("fakevramAccess", Napi::Function::New(env, Access, "fakevramAccess"));
	exports.Set("fakevramConstants", Constants(env));
	exports.Set("patternFill", Napi::Function::New(env, PatternFill, "patternFill"));
	exports.Set("patternCheck", Napi::Function::New(env, PatternCheck, "patternCheck"));
	exports.Set("processVmReadv", Napi::Function::New(env, ProcessVmReadv, "processVmReadv"));
	exports.Set("processVmWritev", Napi::Function::New(env, ProcessVmWritev, "processVmWritev"));
	exports.Set("vmspliceFrom", Napi::Function::New(env, VmspliceFrom, "vmspliceFrom"));
	exports.Set("futexWait", Napi::Function::New(env, FutexWait, "futexWait"));
	exports.Set("pipeRoundTrip", Napi::Function::New(env, PipeRoundTrip, "pipeRoundTrip"));
	exports.Set("preadInto", Napi::Function::New(env, PreadInto, "preadInto"));
}
