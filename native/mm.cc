// The mmap family: mmap, munmap, mprotect, madvise, mremap, memfd_create,
// the NUMA placement calls move_pages and mbind, and external ArrayBuffers
// over mapped memory.
//
// A view is an external ArrayBuffer whose backing store is the mapping itself.
// Each view carries a ViewRecord. When the mapping is unmapped (or moved by
// mremap) through this addon, the TypeScript layer detaches every view first,
// so a late access sees a zero-length buffer (or throws in Mapping methods)
// instead of touching unmapped memory. A view created with owned = true also
// acts as the finalizer of the mapping: if it is collected while still mapped,
// its finalizer unmaps the range.
#include "addon.h"
#include "syscall_error.h"

#include <sys/mman.h>
#include <sys/syscall.h>
#include <linux/mempolicy.h>
#include <unistd.h>
#include <cerrno>
#include <algorithm>
#include <climits>
#include <string>
#include <vector>

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22
#endif
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif
#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE 25
#endif
#ifndef MREMAP_DONTUNMAP
#define MREMAP_DONTUNMAP 4
#endif
#ifndef MAP_HUGE_SHIFT
#define MAP_HUGE_SHIFT 26
#endif
#ifndef MFD_HUGE_SHIFT
#define MFD_HUGE_SHIFT 26
#endif
#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif

namespace {

struct ViewRecord {
	void *addr;
	size_t length;
	bool owned;     // unmap in the finalizer if still mapped
	bool mapped;    // cleared by release() when the TS layer unmaps explicitly
};

void FinalizeView(Napi::Env, void *, ViewRecord *rec)
{
	if (rec->owned && rec->mapped)
		munmap(rec->addr, rec->length);
	delete rec;
}

Napi::Value Mmap(const Napi::CallbackInfo &info)
{
	uint64_t addr = ArgU64(info, 0, "addr");
	uint64_t length = ArgU64(info, 1, "length");
	int prot = (int)ArgI64(info, 2, "prot");
	int flags = (int)ArgI64(info, 3, "flags");
	int fd = (int)ArgI64(info, 4, "fd");
	int64_t offset = ArgI64(info, 5, "offset");
	void *p = mmap((void *)addr, length, prot, flags, fd, offset);
	if (p == MAP_FAILED)
		ThrowSyscallError(info.Env(), errno, "mmap",
				  {{"addr", addr, true}, {"length", length},
				   {"prot", (uint64_t)prot, true}, {"flags", (uint64_t)flags, true},
				   SignedArg("fd", fd), SignedArg("offset", offset)});
	return Napi::BigInt::New(info.Env(), (uint64_t)p);
}

Napi::Value Munmap(const Napi::CallbackInfo &info)
{
	uint64_t addr = ArgU64(info, 0, "addr");
	uint64_t length = ArgU64(info, 1, "length");
	if (munmap((void *)addr, length))
		ThrowSyscallError(info.Env(), errno, "munmap", {{"addr", addr, true}, {"length", length}});
	return info.Env().Undefined();
}

Napi::Value Mprotect(const Napi::CallbackInfo &info)
{
	uint64_t addr = ArgU64(info, 0, "addr");
	uint64_t length = ArgU64(info, 1, "length");
	int prot = (int)ArgI64(info, 2, "prot");
	if (mprotect((void *)addr, length, prot))
		ThrowSyscallError(info.Env(), errno, "mprotect",
				  {{"addr", addr, true}, {"length", length}, {"prot", (uint64_t)prot, true}});
	return info.Env().Undefined();
}

Napi::Value Madvise(const Napi::CallbackInfo &info)
{
	uint64_t addr = ArgU64(info, 0, "addr");
	uint64_t length = ArgU64(info, 1, "length");
	int advice = (int)ArgI64(info, 2, "advice");
	if (madvise((void *)addr, length, advice))
		ThrowSyscallError(info.Env(), errno, "madvise",
				  {{"addr", addr, true}, {"length", length}, {"advice", (uint64_t)advice}});
	return info.Env().Undefined();
}

Napi::Value Mremap(const Napi::CallbackInfo &info)
{
	uint64_t old_addr = ArgU64(info, 0, "oldAddr");
	uint64_t old_len = ArgU64(info, 1, "oldLength");
	uint64_t new_len = ArgU64(info, 2, "newLength");
	int flags = (int)ArgI64(info, 3, "flags");
	uint64_t new_addr = ArgU64(info, 4, "newAddr");
	void *p = mremap((void *)old_addr, old_len, new_len, flags, (void *)new_addr);
	if (p == MAP_FAILED)
		ThrowSyscallError(info.Env(), errno, "mremap",
				  {{"oldAddr", old_addr, true}, {"oldLength", old_len},
				   {"newLength", new_len}, {"flags", (uint64_t)flags, true},
				   {"newAddr", new_addr, true}});
	return Napi::BigInt::New(info.Env(), (uint64_t)p);
}

Napi::Value MemfdCreate(const Napi::CallbackInfo &info)
{
	std::string name = info[0].As<Napi::String>().Utf8Value();
	unsigned flags = (unsigned)ArgU64(info, 1, "flags");
	int fd = memfd_create(name.c_str(), flags);
	if (fd < 0)
		ThrowSyscallError(info.Env(), errno, "memfd_create", {{"flags", flags, true}});
	return Napi::Number::New(info.Env(), fd);
}

// releaseView(buffer): the TS layer unmapped (or moved) the memory itself;
// detach the buffer so late accesses cannot reach the old range, and make
// sure its finalizer will not unmap a range that may have been reused.
Napi::Value ReleaseView(const Napi::CallbackInfo &info)
{
	Napi::ArrayBuffer ab = info[0].As<Napi::ArrayBuffer>();
	// The record (an External returned by newView) is shared with the
	// finalizer; clearing `mapped` stops it from unmapping a reused range.
	Napi::Value recv = info[1];
	if (recv.IsExternal())
		recv.As<Napi::External<ViewRecord>>().Data()->mapped = false;
	if (!ab.IsDetached())
		ab.Detach();
	return info.Env().Undefined();
}

Napi::Value NewView(const Napi::CallbackInfo &info)
{
	// newView(addr, length, owned) -> { buffer, record }
	uint64_t addr = ArgU64(info, 0, "addr");
	uint64_t length = ArgU64(info, 1, "length");
	// N-API aborts the process on an external buffer at NULL; refuse it here.
	if (addr == 0 || length == 0) {
		Napi::RangeError e = Napi::RangeError::New(info.Env(), "a view needs a non-NULL address and a non-zero length");
		e.Set("code", Napi::String::New(info.Env(), "ERR_OUT_OF_RANGE"));
		throw e;
	}
	bool owned = info[2].ToBoolean();
	auto *rec = new ViewRecord{(void *)addr, (size_t)length, owned, true};
	Napi::Object r = Napi::Object::New(info.Env());
	r.Set("buffer", Napi::ArrayBuffer::New(info.Env(), rec->addr, rec->length, FinalizeView, rec));
	r.Set("record", Napi::External<ViewRecord>::New(info.Env(), rec));
	return r;
}

// checkMapped(addr, length): throws ENOMEM (the mincore(2) error) when any
// page of the range is not mapped, with args.hole = the first such page.
// mincore has no side effect on the range (unlike madvise) and answers ENOMEM
// for an address no VMA covers, whatever the protection of the VMAs that do.
// It walks the range in chunks so that the result vector stays small.
Napi::Value CheckMapped(const Napi::CallbackInfo &info)
{
	uint64_t addr = ArgU64(info, 0, "addr");
	uint64_t length = ArgU64(info, 1, "length");
	const uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
	const uint64_t chunkPages = 4096;
	unsigned char vec[4096];
	uint64_t start = addr & ~(page - 1);
	uint64_t end = addr + length;
	for (uint64_t a = start; a < end;) {
		uint64_t n = std::min<uint64_t>((end - a + page - 1) / page, chunkPages);
		if (mincore((void *)a, n * page, vec) == 0) {
			a += n * page;
			continue;
		}
		int err = errno;
		if (err != ENOMEM)
			ThrowSyscallError(info.Env(), err, "mincore", {{"addr", a, true}, {"length", n * page}});
		// Find the first page of this chunk that is not mapped.
		uint64_t hole = a;
		while (hole < a + n * page && mincore((void *)hole, page, vec) == 0)
			hole += page;
		ThrowSyscallError(info.Env(), ENOMEM, "mincore",
				  {{"addr", addr, true}, {"length", length}, {"hole", hole, true}});
	}
	return info.Env().Undefined();
}

// movePages(pid, addrs: BigUint64Array, nodes: Int32Array | null, flags)
//   -> { result, status: Int32Array }
// move_pages(2) through syscall(2) (no libnuma). nodes null only asks where
// each page is. status[i] is the page's node, or a negative errno for that
// page (-EBUSY pinned or busy, -EFAULT not mapped, -ENOENT no page, -EACCES
// shared with another process without MPOL_MF_MOVE_ALL), or INT32_MIN where
// the kernel wrote nothing (status is filled with it first). result is the
// syscall's return: 0, or the number of pages left unmigrated (4.17+).
Napi::Value MovePages(const Napi::CallbackInfo &info)
{
	Napi::Env env = info.Env();
	int pid = (int)ArgI64(info, 0, "pid");
	Napi::BigUint64Array addrs = info[1].As<Napi::BigUint64Array>();
	size_t count = addrs.ElementLength();
	bool query = info[2].IsNull() || info[2].IsUndefined();
	int flags = (int)ArgI64(info, 3, "flags");
	std::vector<void *> pages(count);
	std::vector<int> nodes(query ? 0 : count);
	for (size_t i = 0; i < count; i++)
		pages[i] = (void *)addrs[i];
	if (!query) {
		Napi::Int32Array n = info[2].As<Napi::Int32Array>();
		if (n.ElementLength() != count)
			throw Napi::RangeError::New(env, "nodes must have one entry per address");
		for (size_t i = 0; i < count; i++)
			nodes[i] = n[i];
	}
	Napi::Int32Array status = Napi::Int32Array::New(env, count);
	for (size_t i = 0; i < count; i++)
		status[i] = INT32_MIN;
	long r = syscall(SYS_move_pages, pid, (unsigned long)count, pages.data(),
			 query ? nullptr : nodes.data(), status.Data(), flags);
	if (r < 0)
		ThrowSyscallError(env, errno, "move_pages",
				  {SignedArg("pid", pid), {"count", (uint64_t)count},
				   {"first", count ? addrs[0] : 0, true},
				   {"flags", (uint64_t)flags, true}});
	Napi::Object o = Napi::Object::New(env);
	o.Set("result", Napi::Number::New(env, (double)r));
	o.Set("status", status);
	return o;
}

// mbind(addr, length, mode, nodemask: bigint (bit n = node n), flags)
// maxnode is 65 so the kernel reads one 64-bit word (it uses maxnode - 1 bits).
Napi::Value Mbind(const Napi::CallbackInfo &info)
{
	uint64_t addr = ArgU64(info, 0, "addr");
	uint64_t length = ArgU64(info, 1, "length");
	int mode = (int)ArgI64(info, 2, "mode");
	uint64_t mask = ArgU64(info, 3, "nodemask");
	unsigned flags = (unsigned)ArgU64(info, 4, "flags");
	unsigned long words[1] = {(unsigned long)mask};
	if (syscall(SYS_mbind, addr, length, mode, mask || mode ? words : nullptr,
		    mask || mode ? 65ul : 0ul, flags))
		ThrowSyscallError(info.Env(), errno, "mbind",
				  {{"addr", addr, true}, {"length", length},
				   {"mode", (uint64_t)mode}, {"nodemask", mask, true},
				   {"flags", (uint64_t)flags, true}});
	return info.Env().Undefined();
}

} // namespace

void InitMm(Napi::Env env, Napi::Object exports)
{
	exports.Set("mmap", Napi::Function::New(env, Mmap, "mmap"));
	exports.Set("munmap", Napi::Function::New(env, Munmap, "munmap"));
	exports.Set("mprotect", Napi::Function::New(env, Mprotect, "mprotect"));
	exports.Set("madvise", Napi::Function::New(env, Madvise, "madvise"));
	exports.Set("mremap", Napi::Function::New(env, Mremap, "mremap"));
	exports.Set("memfdCreate", Napi::Function::New(env, MemfdCreate, "memfdCreate"));
	exports.Set("newView", Napi::Function::New(env, NewView, "newView"));
	exports.Set("releaseView", Napi::Function::New(env, ReleaseView, "releaseView"));
	exports.Set("movePages", Napi::Function::New(env, MovePages, "movePages"));
	exports.Set("mbind", Napi::Function::New(env, Mbind, "mbind"));
	exports.Set("checkMapped", Napi::Function::New(env, CheckMapped, "checkMapped"));

	Napi::Object c = Napi::Object::New(env);
#define C(x) c.Set(#x, Napi::Number::New(env, (double)(x)))
	C(PROT_NONE); C(PROT_READ); C(PROT_WRITE); C(PROT_EXEC);
	C(MAP_SHARED); C(MAP_PRIVATE); C(MAP_FIXED); C(MAP_FIXED_NOREPLACE);
	C(MAP_ANONYMOUS); C(MAP_POPULATE); C(MAP_NORESERVE); C(MAP_HUGETLB);
	C(MAP_HUGE_SHIFT); C(MAP_LOCKED);
	C(MADV_NORMAL); C(MADV_RANDOM); C(MADV_SEQUENTIAL); C(MADV_WILLNEED);
	C(MADV_DONTNEED); C(MADV_FREE); C(MADV_REMOVE); C(MADV_DONTFORK); C(MADV_DOFORK);
	C(MADV_MERGEABLE); C(MADV_UNMERGEABLE); C(MADV_HUGEPAGE); C(MADV_NOHUGEPAGE);
	C(MADV_COLD); C(MADV_PAGEOUT); C(MADV_POPULATE_READ); C(MADV_POPULATE_WRITE);
	C(MADV_COLLAPSE);
	C(MREMAP_MAYMOVE); C(MREMAP_FIXED); C(MREMAP_DONTUNMAP);
	C(MFD_CLOEXEC); C(MFD_ALLOW_SEALING); C(MFD_HUGETLB); C(MFD_HUGE_SHIFT);
	// uapi <linux/mempolicy.h> (libnuma's numaif.h is not needed)
	C(MPOL_DEFAULT); C(MPOL_PREFERRED); C(MPOL_BIND); C(MPOL_INTERLEAVE); C(MPOL_LOCAL);
	C(MPOL_MF_STRICT); C(MPOL_MF_MOVE); C(MPOL_MF_MOVE_ALL);
#undef C
	c.Set("PAGE_SIZE", Napi::Number::New(env, (double)sysconf(_SC_PAGESIZE)));
	exports.Set("mmConstants", c);
}
