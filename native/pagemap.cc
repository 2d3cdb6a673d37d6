// Page state: /proc/self/pagemap, the PAGEMAP_SCAN ioctl on it (6.7+), and
// /proc/kpageflags. Raw kernel values go to JavaScript as typed arrays; the
// one piece of arithmetic done here is pageSummary(), which counts bits over
// a range in a single call so that no JavaScript runs per page.
//
// pagemap entry (Documentation/admin-guide/mm/pagemap.rst):
//   bits 0-54  PFN if present (zero without CAP_SYS_ADMIN), swap type/offset if swapped
//   bit  55    pte is soft-dirty
//   bit  56    page exclusively mapped
//   bit  57    pte is uffd-wp write-protected
//   bit  58    pte is a guard region (6.14+)
//   bit  61    page is file-page or shared-anon
//   bit  62    page swapped
//   bit  63    page present
#include "addon.h"
#include "syscall_error.h"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <cerrno>
#include <cstdint>
#include <vector>

// PAGEMAP_SCAN (linux/fs.h, 6.7+); the build headers may predate it.
#ifndef PAGEMAP_SCAN
#define PAGE_IS_WPALLOWED	(1 << 0)
#define PAGE_IS_WRITTEN		(1 << 1)
#define PAGE_IS_FILE		(1 << 2)
#define PAGE_IS_PRESENT		(1 << 3)
#define PAGE_IS_SWAPPED		(1 << 4)
#define PAGE_IS_PFNZERO		(1 << 5)
#define PAGE_IS_HUGE		(1 << 6)
#define PAGE_IS_SOFT_DIRTY	(1 << 7)
struct page_region {
	uint64_t start;
	uint64_t end;
	uint64_t categories;
};
struct pm_scan_arg {
	uint64_t size;
	uint64_t flags;
	uint64_t start;
	uint64_t end;
	uint64_t walk_end;
	uint64_t vec;
	uint64_t vec_len;
	uint64_t max_pages;
	uint64_t category_inverted;
	uint64_t category_mask;
	uint64_t category_anyof_mask;
	uint64_t return_mask;
};
#define PAGEMAP_SCAN _IOWR('f', 16, struct pm_scan_arg)
#endif
#ifndef PAGE_IS_GUARD
#define PAGE_IS_GUARD		(1 << 8)
#endif

#define PM_PFN_MASK		((1ULL << 55) - 1)
#define PM_SOFT_DIRTY		(1ULL << 55)
#define PM_MMAP_EXCLUSIVE	(1ULL << 56)
#define PM_UFFD_WP		(1ULL << 57)
#define PM_GUARD_REGION		(1ULL << 58)
#define PM_FILE			(1ULL << 61)
#define PM_SWAP			(1ULL << 62)
#define PM_PRESENT		(1ULL << 63)

// kpageflags bit numbers (linux/kernel-page-flags.h)
#define KPF_LRU			5
#define KPF_ANON		12
#define KPF_COMPOUND_HEAD	15
#define KPF_COMPOUND_TAIL	16
#define KPF_HUGE		17
#define KPF_KSM			21
#define KPF_THP			22
#define KPF_ZERO_PAGE		24

namespace {

const long kPageSize = sysconf(_SC_PAGESIZE);

// Opened on first use and kept: /proc/self resolves to this process at open
// time, which is what we want (a forked child never calls in here).
int PagemapFd(Napi::Env env)
{
	static int fd = -1;
	if (fd < 0) {
		fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			ThrowSyscallError(env, errno, "open", {});
	}
	return fd;
}

// -1 with errno when /proc/kpageflags cannot be opened (not root).
int KpageflagsFd()
{
	static int fd = -2;
	static int err = 0;
	if (fd == -2) {
		fd = open("/proc/kpageflags", O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			err = errno;
	}
	if (fd < 0)
		errno = err;
	return fd;
}

void ReadPagemap(Napi::Env env, uint64_t addr, uint64_t npages, uint64_t *out)
{
	int fd = PagemapFd(env);
	uint64_t off = addr / kPageSize * 8;
	size_t want = npages * 8, done = 0;
	while (done < want) {
		ssize_t n = pread(fd, (char *)out + done, want - done, off + done);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			ThrowSyscallError(env, errno, "pread",
					  {{"addr", addr, true}, {"pages", npages}});
		}
		if (n == 0)
			break;
		done += n;
	}
	for (size_t i = done / 8; i < npages; i++)
		out[i] = 0;
}

// Flags of each present page's PFN; 0 for pages that are not present or have
// no PFN (PFN 0 is reported when the reader lacks CAP_SYS_ADMIN). Runs of
// consecutive PFNs are read with one pread. Returns false (errno set) when
// /proc/kpageflags is unreadable.
bool ReadKpageflags(const uint64_t *pm, uint64_t npages, uint64_t *out)
{
	int fd = KpageflagsFd();
	if (fd < 0)
		return false;
	uint64_t i = 0;
	while (i < npages) {
		uint64_t pfn = pm[i] & PM_PFN_MASK;
		if (!(pm[i] & PM_PRESENT) || pfn == 0) {
			out[i++] = 0;
			continue;
		}
		uint64_t j = i + 1;
		while (j < npages && (pm[j] & PM_PRESENT) &&
		       (pm[j] & PM_PFN_MASK) == pfn + (j - i))
			j++;
		size_t want = (j - i) * 8, done = 0;
		while (done < want) {
			ssize_t n = pread(fd, (char *)(out + i) + done, want - done, pfn * 8 + done);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				break;
			done += n;
		}
		for (uint64_t k = i + done / 8; k < j; k++)
			out[k] = 0;
		i = j;
	}
	return true;
}

// PAGEMAP_SCAN over [addr, addr + npages pages): per-page categories.
// Returns false with errno when the ioctl is refused (kernels before 6.7:
// ENOTTY). Pages the walk does not report (no VMA) get 0.
bool ScanCategories(Napi::Env env, uint64_t addr, uint64_t npages, uint8_t *cat)
{
	int fd = PagemapFd(env);
	uint64_t end = addr + npages * kPageSize;
	std::vector<page_region> vec(npages < 4096 ? npages : 4096);
	for (uint64_t i = 0; i < npages; i++)
		cat[i] = 0;
	uint64_t start = addr;
	while (start < end) {
		pm_scan_arg arg = {};
		arg.size = sizeof(arg);
		arg.start = start;
		arg.end = end;
		arg.vec = (uint64_t)vec.data();
		arg.vec_len = vec.size();
		arg.return_mask = PAGE_IS_WPALLOWED | PAGE_IS_WRITTEN | PAGE_IS_FILE |
				  PAGE_IS_PRESENT | PAGE_IS_SWAPPED | PAGE_IS_PFNZERO |
				  PAGE_IS_HUGE | PAGE_IS_SOFT_DIRTY;
		long n = ioctl(fd, PAGEMAP_SCAN, &arg);
		if (n < 0)
			return false;
		for (long r = 0; r < n; r++) {
			for (uint64_t a = vec[r].start; a < vec[r].end; a += kPageSize)
				cat[(a - addr) / kPageSize] = (uint8_t)vec[r].categories;
		}
		if (arg.walk_end <= start)
			break;
		start = arg.walk_end;
	}
	return true;
}

uint64_t PagesArg(const Napi::CallbackInfo &info, uint64_t addr, uint64_t length)
{
	if (addr % kPageSize || length % kPageSize || length == 0 || addr + length < addr) {
		Napi::RangeError e = Napi::RangeError::New(info.Env(),
			"addr and length must be page aligned, length non-zero, addr + length without overflow");
		e.Set("code", Napi::String::New(info.Env(), "ERR_INVALID_ARG_VALUE"));
		throw e;
	}
	return length / kPageSize;
}

Napi::BigUint64Array NewU64(Napi::Env env, uint64_t n)
{
	return Napi::BigUint64Array::New(env, n);
}

// pageStateRaw(addr, length) -> {
//   pagemap: BigUint64Array,             raw /proc/self/pagemap entries
//   kpageflags: BigUint64Array | null,   flags of each present PFN (null + kpageflagsErrno when unreadable)
//   scan: Uint8Array | null              PAGEMAP_SCAN categories (null + scanErrno when refused)
// }
Napi::Value PageStateRaw(const Napi::CallbackInfo &info)
{
	Napi::Env env = info.Env();
	uint64_t addr = ArgU64(info, 0, "addr");
	uint64_t length = ArgU64(info, 1, "length");
	uint64_t npages = PagesArg(info, addr, length);
	Napi::Object r = Napi::Object::New(env);

	Napi::BigUint64Array pm = NewU64(env, npages);
	ReadPagemap(env, addr, npages, pm.Data());
	r.Set("pagemap", pm);

	Napi::BigUint64Array kf = NewU64(env, npages);
	if (ReadKpageflags(pm.Data(), npages, kf.Data())) {
		r.Set("kpageflags", kf);
	} else {
		r.Set("kpageflags", env.Null());
		r.Set("kpageflagsErrno", Napi::Number::New(env, -errno));
	}

	Napi::Uint8Array cat = Napi::Uint8Array::New(env, npages);
	if (ScanCategories(env, addr, npages, cat.Data())) {
		r.Set("scan", cat);
	} else {
		r.Set("scan", env.Null());
		r.Set("scanErrno", Napi::Number::New(env, -errno));
	}
	return r;
}

// pagemapScan(start, end, categoryMask, anyofMask, invertedMask, returnMask, maxPages)
//   -> { regions: BigUint64Array of (start, end, categories) triples, walkEnd }
// The raw ioctl, one call (at most 4096 regions; continue from walkEnd).
Napi::Value PagemapScan(const Napi::CallbackInfo &info)
{
	Napi::Env env = info.Env();
	pm_scan_arg arg = {};
	arg.size = sizeof(arg);
	arg.start = ArgU64(info, 0, "start");
	arg.end = ArgU64(info, 1, "end");
	arg.category_mask = ArgU64(info, 2, "categoryMask");
	arg.category_anyof_mask = ArgU64(info, 3, "categoryAnyofMask");
	arg.category_inverted = ArgU64(info, 4, "categoryInverted");
	arg.return_mask = ArgU64(info, 5, "returnMask");
	arg.max_pages = ArgU64(info, 6, "maxPages");
	std::vector<page_region> vec(4096);
	arg.vec = (uint64_t)vec.data();
	arg.vec_len = vec.size();
	long n = ioctl(PagemapFd(env), PAGEMAP_SCAN, &arg);
	if (n < 0)
		ThrowSyscallError(env, errno, "ioctl",
				  {{"request", (uint64_t)PAGEMAP_SCAN, true},
				   {"start", arg.start, true}, {"end", arg.end, true},
				   {"categoryMask", arg.category_mask, true},
				   {"returnMask", arg.return_mask, true}});
	Napi::BigUint64Array out = NewU64(env, n * 3);
	uint64_t *o = out.Data();
	for (long i = 0; i < n; i++) {
		o[i * 3] = vec[i].start;
		o[i * 3 + 1] = vec[i].end;
		o[i * 3 + 2] = vec[i].categories;
	}
	Napi::Object r = Napi::Object::New(env);
	r.Set("regions", out);
	r.Set("walkEnd", Napi::BigInt::New(env, arg.walk_end));
	return r;
}

// pageSummary(addr, length) -> counts of pages over the range, in one call.
Napi::Value PageSummary(const Napi::CallbackInfo &info)
{
	Napi::Env env = info.Env();
	uint64_t addr = ArgU64(info, 0, "addr");
	uint64_t length = ArgU64(info, 1, "length");
	uint64_t npages = PagesArg(info, addr, length);
	std::vector<uint64_t> pm(npages), kf(npages);
	std::vector<uint8_t> cat(npages);
	ReadPagemap(env, addr, npages, pm.data());
	bool haveKf = ReadKpageflags(pm.data(), npages, kf.data());
	int kfErr = haveKf ? 0 : errno;
	bool haveScan = ScanCategories(env, addr, npages, cat.data());
	int scanErr = haveScan ? 0 : errno;

	uint64_t present = 0, swapped = 0, exclusive = 0, softDirty = 0, fileShared = 0,
		 uffdWp = 0, guard = 0, pfnKnown = 0;
	uint64_t thp = 0, thpHead = 0, thpTail = 0, hugetlb = 0, zero = 0, ksm = 0,
		 anon = 0, lru = 0;
	uint64_t pmdMapped = 0, scanHuge = 0, scanPresent = 0, pfnZero = 0;
	for (uint64_t i = 0; i < npages; i++) {
		uint64_t e = pm[i];
		present += !!(e & PM_PRESENT);
		swapped += !!(e & PM_SWAP);
		exclusive += !!(e & PM_MMAP_EXCLUSIVE);
		softDirty += !!(e & PM_SOFT_DIRTY);
		fileShared += !!(e & PM_FILE);
		uffdWp += !!(e & PM_UFFD_WP);
		guard += !!(e & PM_GUARD_REGION);
		pfnKnown += (e & PM_PRESENT) && (e & PM_PFN_MASK);
		if (haveKf) {
			uint64_t f = kf[i];
			bool isThp = f & (1ULL << KPF_THP);
			thp += isThp;
			thpHead += isThp && (f & (1ULL << KPF_COMPOUND_HEAD));
			thpTail += isThp && (f & (1ULL << KPF_COMPOUND_TAIL));
			hugetlb += !!(f & (1ULL << KPF_HUGE));
			zero += !!(f & (1ULL << KPF_ZERO_PAGE));
			ksm += !!(f & (1ULL << KPF_KSM));
			anon += !!(f & (1ULL << KPF_ANON));
			lru += !!(f & (1ULL << KPF_LRU));
		}
		if (haveScan) {
			uint8_t c = cat[i];
			scanPresent += !!(c & PAGE_IS_PRESENT);
			scanHuge += !!(c & PAGE_IS_HUGE);
			pfnZero += !!(c & PAGE_IS_PFNZERO);
			// PMD-mapped THP: a huge page-table entry that is not hugetlb
			pmdMapped += (c & PAGE_IS_HUGE) && (c & PAGE_IS_PRESENT) &&
				     !(haveKf && (kf[i] & (1ULL << KPF_HUGE)));
		}
	}
	Napi::Object r = Napi::Object::New(env);
	auto N = [&](const char *k, uint64_t v) { r.Set(k, Napi::Number::New(env, (double)v)); };
	N("pages", npages);
	N("pageSize", kPageSize);
	N("present", present);
	N("swapped", swapped);
	N("exclusive", exclusive);
	N("softDirty", softDirty);
	N("fileOrSharedAnon", fileShared);
	N("uffdWp", uffdWp);
	N("guard", guard);
	N("pfnKnown", pfnKnown);
	r.Set("kpageflags", Napi::Boolean::New(env, haveKf));
	if (haveKf) {
		N("thp", thp);
		N("thpHead", thpHead);
		N("thpTail", thpTail);
		N("hugetlb", hugetlb);
		N("zeroPage", zero);
		N("ksm", ksm);
		N("anon", anon);
		N("lru", lru);
	} else {
		r.Set("kpageflagsErrno", Napi::Number::New(env, -kfErr));
	}
	r.Set("pagemapScan", Napi::Boolean::New(env, haveScan));
	if (haveScan) {
		N("scanPresent", scanPresent);
		N("scanHuge", scanHuge);
		N("pfnZero", pfnZero);
		N("pmdMapped", pmdMapped);
	} else {
		r.Set("pagemapScanErrno", Napi::Number::New(env, -scanErr));
	}
	return r;
}

} // namespace

void InitPagemap(Napi::Env env, Napi::Object exports)
{
	exports.Set("pageStateRaw", Napi::Function::New(env, PageStateRaw, "pageStateRaw"));
	exports.Set("pagemapScan", Napi::Function::New(env, PagemapScan, "pagemapScan"));
	exports.Set("pageSummary", Napi::Function::New(env, PageSummary, "pageSummary"));
	Napi::Object c = Napi::Object::New(env);
#define C(x) c.Set(#x, Napi::Number::New(env, (double)(x)))
	C(PAGE_IS_WPALLOWED); C(PAGE_IS_WRITTEN); C(PAGE_IS_FILE); C(PAGE_IS_PRESENT);
	C(PAGE_IS_SWAPPED); C(PAGE_IS_PFNZERO); C(PAGE_IS_HUGE); C(PAGE_IS_SOFT_DIRTY);
	C(PAGE_IS_GUARD);
#undef C
	exports.Set("pagemapConstants", c);
}
