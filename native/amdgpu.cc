// amdgpu: DRM_IOCTL_AMDGPU_GEM_USERPTR turns a range of this process's
// memory into a GEM object (include/uapi/drm/amdgpu_drm.h). With REGISTER the
// driver installs an mmu_interval_notifier on the range (so munmap, mprotect
// and migration invalidate the object), with VALIDATE it faults the pages in
// (hmm_range_fault) at creation, with ANONONLY it refuses file-backed memory,
// and READONLY is the only way to get an object without the notifier.
//
// What is not here: a command submission (DRM_IOCTL_AMDGPU_CS) that makes the
// GPU read the object. It needs a context, a VA mapping of the object and of
// an IB, and PM4 or SDMA packets that depend on the ASIC family; none of it
// could be run on hardware while this was written, so it is left out rather
// than shipped untested. Registration cost, invalidation cost (measured from
// JavaScript around munmap/mprotect) and the driver's errors are what this
// backend reports.
#include "addon.h"
#include "drm_hw.h"

#include <cerrno>

namespace {

// include/uapi/drm/amdgpu_drm.h
struct drm_amdgpu_gem_userptr_abi {
	__u64 addr;
	__u64 size;
	__u32 flags;	// AMDGPU_GEM_USERPTR_*
	__u32 handle;	// out: the GEM handle
};
static_assert(sizeof(struct drm_amdgpu_gem_userptr_abi) == 24, "drm_amdgpu_gem_userptr");

#define ML_DRM_AMDGPU_GEM_USERPTR 0x11
#define ML_DRM_IOCTL_AMDGPU_GEM_USERPTR \
	ML_DRM_IOWR(ML_DRM_AMDGPU_GEM_USERPTR, struct drm_amdgpu_gem_userptr_abi)

#define ML_AMDGPU_GEM_USERPTR_READONLY (1u << 0)
#define ML_AMDGPU_GEM_USERPTR_ANONONLY (1u << 1)
#define ML_AMDGPU_GEM_USERPTR_VALIDATE (1u << 2)
#define ML_AMDGPU_GEM_USERPTR_REGISTER (1u << 3)
#define ML_AMDGPU_GEM_USERPTR_FLAGS \
	(ML_AMDGPU_GEM_USERPTR_READONLY | ML_AMDGPU_GEM_USERPTR_ANONONLY | \
	 ML_AMDGPU_GEM_USERPTR_VALIDATE | ML_AMDGPU_GEM_USERPTR_REGISTER)

// gemUserptr(fd, addr, size, flags) -> { handle, ns }
// Unknown flag bits are passed to the driver unchanged: its EINVAL for them is
// one of the errors this backend exists to report.
Napi::Value GemUserptr(const Napi::CallbackInfo &info)
{
	Napi::Env env = info.Env();
	int fd = ArgFd(info, 0, "fd");
	uint64_t addr = ArgU64(info, 1, "addr");
	uint64_t size = ArgU64(info, 2, "size");
	uint32_t flags = ArgU32(info, 3, "flags");
	drm_amdgpu_gem_userptr_abi a{};

	CheckUserRange(env, "amdgpu.gemUserptr", addr, size);
	a.addr = addr;
	a.size = size;
	a.flags = flags;
	uint64_t t0 = MonoNs();
	int err = DrmIoctl(fd, ML_DRM_IOCTL_AMDGPU_GEM_USERPTR, &a);
	uint64_t t1 = MonoNs();
	if (err)
		ThrowSyscallError(env, err, "ioctl(DRM_IOCTL_AMDGPU_GEM_USERPTR)",
				  {SignedArg("fd", fd), {"addr", addr, true}, {"size", size},
				   {"flags", flags, true}});
	Napi::Object o = Napi::Object::New(env);
	o.Set("handle", a.handle);
	o.Set("ns", (double)(t1 - t0));
	return o;
}

// gemClose(fd, handle): drops the object, and with it the notifier.
Napi::Value GemClose(const Napi::CallbackInfo &info)
{
	GemCloseOrThrow(info.Env(), ArgFd(info, 0, "fd"), ArgU32(info, 1, "handle"));
	return info.Env().Undefined();
}

Napi::Object Layout(Napi::Env env)
{
	DrmLayoutTable t(env);

	ML_LAYOUT_STRUCT(t, drm_amdgpu_gem_userptr);
	ML_LAYOUT_FIELD(t, drm_amdgpu_gem_userptr, addr);
	ML_LAYOUT_FIELD(t, drm_amdgpu_gem_userptr, size);
	ML_LAYOUT_FIELD(t, drm_amdgpu_gem_userptr, flags);
	ML_LAYOUT_FIELD(t, drm_amdgpu_gem_userptr, handle);
	return t.all;
}

} // namespace

void InitAmdgpu(Napi::Env env, Napi::Object exports)
{
	Napi::Object m = Napi::Object::New(env);

	m.Set("gemUserptr", Napi::Function::New(env, GemUserptr, "gemUserptr"));
	m.Set("gemClose", Napi::Function::New(env, GemClose, "gemClose"));
	m.Set("layout", Layout(env));
	exports.Set("amdgpu", m);

	Napi::Object c = Napi::Object::New(env);
#define C(name, v) c.Set(name, Napi::Number::New(env, (double)(v)))
	C("AMDGPU_GEM_USERPTR_READONLY", ML_AMDGPU_GEM_USERPTR_READONLY);
	C("AMDGPU_GEM_USERPTR_ANONONLY", ML_AMDGPU_GEM_USERPTR_ANONONLY);
	C("AMDGPU_GEM_USERPTR_VALIDATE", ML_AMDGPU_GEM_USERPTR_VALIDATE);
	C("AMDGPU_GEM_USERPTR_REGISTER", ML_AMDGPU_GEM_USERPTR_REGISTER);
	C("AMDGPU_GEM_USERPTR_FLAGS", ML_AMDGPU_GEM_USERPTR_FLAGS);
	C("DRM_AMDGPU_GEM_USERPTR", ML_DRM_AMDGPU_GEM_USERPTR);
	C("DRM_IOCTL_AMDGPU_GEM_USERPTR", ML_DRM_IOCTL_AMDGPU_GEM_USERPTR);
	C("DRM_IOCTL_GEM_CLOSE", ML_DRM_IOCTL_GEM_CLOSE);
#undef C
	exports.Set("amdgpuConstants", c);
}
