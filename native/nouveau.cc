// nouveau: shared virtual memory (include/uapi/drm/nouveau_drm.h).
// DRM_IOCTL_NOUVEAU_SVM_INIT turns this client's GPU address space into a
// mirror of the process's (an HMM mirror, mmu_interval_notifier per range),
// except for the "unmanaged" window given to it, where the client's own GEM
// objects go; the driver refuses it (ENOSYS) on GPUs without replayable
// faults (before Pascal) and when the client already has a VMM in use.
// DRM_IOCTL_NOUVEAU_SVM_BIND with NOUVEAU_SVM_BIND_COMMAND__MIGRATE and
// NOUVEAU_SVM_BIND_TARGET__GPU_VRAM migrates a range of the process's memory
// into VRAM: the GPU's copy engine reads every page (the smallest GPU read
// this interface offers), and the CPU's page table entries become
// device-private entries that fault the data back on the next CPU access.
// The driver supports neither a priority nor a stride (both MBZ, EINVAL).
#include "addon.h"
#include "drm_hw.h"

#include <cerrno>

namespace {

struct drm_nouveau_svm_init_abi {
	__u64 unmanaged_addr;
	__u64 unmanaged_size;
};
static_assert(sizeof(struct drm_nouveau_svm_init_abi) == 16, "drm_nouveau_svm_init");

struct drm_nouveau_svm_bind_abi {
	__u64 header;	// command | priority | target, by the shifts below
	__u64 va_start;
	__u64 va_end;	// va_start + npages pages must not pass it
	__u64 npages;
	__u64 stride;	// MBZ
	__u64 result;	// out: 0, or the negative errno of the migration
	__u64 reserved0;
	__u64 reserved1;
};
static_assert(sizeof(struct drm_nouveau_svm_bind_abi) == 64, "drm_nouveau_svm_bind");

#define ML_DRM_NOUVEAU_SVM_INIT 0x08
#define ML_DRM_NOUVEAU_SVM_BIND 0x09
#define ML_DRM_IOCTL_NOUVEAU_SVM_INIT ML_DRM_IOWR(ML_DRM_NOUVEAU_SVM_INIT, struct drm_nouveau_svm_init_abi)
#define ML_DRM_IOCTL_NOUVEAU_SVM_BIND ML_DRM_IOWR(ML_DRM_NOUVEAU_SVM_BIND, struct drm_nouveau_svm_bind_abi)

#define ML_NOUVEAU_SVM_BIND_COMMAND_SHIFT 0
#define ML_NOUVEAU_SVM_BIND_PRIORITY_SHIFT 8
#define ML_NOUVEAU_SVM_BIND_TARGET_SHIFT 16
#define ML_NOUVEAU_SVM_BIND_COMMAND__MIGRATE 0ull
#define ML_NOUVEAU_SVM_BIND_TARGET__GPU_VRAM (1ull << 31)
#define ML_NOUVEAU_SVM_BIND_VALID_BITS 48

// svmInit(fd, unmanagedAddr, unmanagedSize) -> ns
Napi::Value SvmInit(const Napi::CallbackInfo &info)
{
	Napi::Env env = info.Env();
	int fd = ArgFd(info, 0, "fd");
	uint64_t addr = ArgU64(info, 1, "unmanagedAddr");
	uint64_t size = ArgU64(info, 2, "unmanagedSize");
	drm_nouveau_svm_init_abi a{};

	CheckUserRange(env, "nouveau.svmInit", addr, size);
	a.unmanaged_addr = addr;
	a.unmanaged_size = size;
	uint64_t t0 = MonoNs();
	int err = DrmIoctl(fd, ML_DRM_IOCTL_NOUVEAU_SVM_INIT, &a);
	uint64_t t1 = MonoNs();
	if (err)
		ThrowSyscallError(env, err, "ioctl(DRM_IOCTL_NOUVEAU_SVM_INIT)",
				  {SignedArg("fd", fd), {"unmanaged_addr", addr, true}, {"unmanaged_size", size}});
	return Napi::Number::New(env, (double)(t1 - t0));
}

// svmMigrateToVram(fd, addr, length) -> { result, ns }: SVM_BIND MIGRATE to
// GPU_VRAM of length / 4096 pages from addr. result is the driver's per-call
// status (0 or a negative errno of the migration itself); the ioctl's own
// failure throws.
Napi::Value SvmMigrateToVram(const Napi::CallbackInfo &info)
{
	Napi::Env env = info.Env();
	int fd = ArgFd(info, 0, "fd");
	uint64_t addr = ArgU64(info, 1, "addr");
	uint64_t length = ArgU64(info, 2, "length");
	drm_nouveau_svm_bind_abi b{};

	CheckUserRange(env, "nouveau.svmMigrateToVram", addr, length);
	if ((addr + length) >> ML_NOUVEAU_SVM_BIND_VALID_BITS)
		ThrowArgError(env, "ERR_OUT_OF_RANGE", "nouveau.svmMigrateToVram: range " + HexU64(addr) + " + " +
			      HexU64(length) + " passes the 48 bits SVM_BIND accepts");
	b.header = (ML_NOUVEAU_SVM_BIND_COMMAND__MIGRATE << ML_NOUVEAU_SVM_BIND_COMMAND_SHIFT) |
		   (ML_NOUVEAU_SVM_BIND_TARGET__GPU_VRAM << ML_NOUVEAU_SVM_BIND_TARGET_SHIFT);
	b.va_start = addr;
	b.va_end = addr + length;
	b.npages = length / ML_DRM_PAGE_SIZE;
	uint64_t t0 = MonoNs();
	int err = DrmIoctl(fd, ML_DRM_IOCTL_NOUVEAU_SVM_BIND, &b);
	uint64_t t1 = MonoNs();
	if (err)
		ThrowSyscallError(env, err, "ioctl(DRM_IOCTL_NOUVEAU_SVM_BIND)",
				  {SignedArg("fd", fd), {"header", b.header, true}, {"va_start", addr, true},
				   {"va_end", b.va_end, true}, {"npages", b.npages}});
	Napi::Object o = Napi::Object::New(env);
	o.Set("result", Napi::Number::New(env, (double)(int64_t)b.result));
	o.Set("ns", (double)(t1 - t0));
	return o;
}

Napi::Object Layout(Napi::Env env)
{
	DrmLayoutTable t(env);

	ML_LAYOUT_STRUCT(t, drm_nouveau_svm_init);
	ML_LAYOUT_FIELD(t, drm_nouveau_svm_init, unmanaged_addr);
	ML_LAYOUT_FIELD(t, drm_nouveau_svm_init, unmanaged_size);
	ML_LAYOUT_STRUCT(t, drm_nouveau_svm_bind);
	ML_LAYOUT_FIELD(t, drm_nouveau_svm_bind, header);
	ML_LAYOUT_FIELD(t, drm_nouveau_svm_bind, va_start);
	ML_LAYOUT_FIELD(t, drm_nouveau_svm_bind, va_end);
	ML_LAYOUT_FIELD(t, drm_nouveau_svm_bind, npages);
	ML_LAYOUT_FIELD(t, drm_nouveau_svm_bind, stride);
	ML_LAYOUT_FIELD(t, drm_nouveau_svm_bind, result);
	ML_LAYOUT_FIELD(t, drm_nouveau_svm_bind, reserved0);
	ML_LAYOUT_FIELD(t, drm_nouveau_svm_bind, reserved1);
	return t.all;
}

} // namespace

void InitNouveau(Napi::Env env, Napi::Object exports)
{
	Napi::Object m = Napi::Object::New(env);

	m.Set("svmInit", Napi::Function::New(env, SvmInit, "svmInit"));
	m.Set("svmMigrateToVram", Napi::Function::New(env, SvmMigrateToVram, "svmMigrateToVram"));
	m.Set("layout", Layout(env));
	exports.Set("nouveau", m);

	Napi::Object c = Napi::Object::New(env);
#define C(name, v) c.Set(name, Napi::Number::New(env, (double)(v)))
	C("NOUVEAU_SVM_BIND_COMMAND_SHIFT", ML_NOUVEAU_SVM_BIND_COMMAND_SHIFT);
	C("NOUVEAU_SVM_BIND_PRIORITY_SHIFT", ML_NOUVEAU_SVM_BIND_PRIORITY_SHIFT);
	C("NOUVEAU_SVM_BIND_TARGET_SHIFT", ML_NOUVEAU_SVM_BIND_TARGET_SHIFT);
	C("NOUVEAU_SVM_BIND_COMMAND__MIGRATE", ML_NOUVEAU_SVM_BIND_COMMAND__MIGRATE);
	C("NOUVEAU_SVM_BIND_TARGET__GPU_VRAM", ML_NOUVEAU_SVM_BIND_TARGET__GPU_VRAM);
	C("NOUVEAU_SVM_BIND_VALID_BITS", ML_NOUVEAU_SVM_BIND_VALID_BITS);
	C("DRM_NOUVEAU_SVM_INIT", ML_DRM_NOUVEAU_SVM_INIT);
	C("DRM_NOUVEAU_SVM_BIND", ML_DRM_NOUVEAU_SVM_BIND);
	C("DRM_IOCTL_NOUVEAU_SVM_INIT", ML_DRM_IOCTL_NOUVEAU_SVM_INIT);
	C("DRM_IOCTL_NOUVEAU_SVM_BIND", ML_DRM_IOCTL_NOUVEAU_SVM_BIND);
#undef C
	exports.Set("nouveauConstants", c);
}
