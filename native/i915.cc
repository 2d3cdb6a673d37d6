// i915: DRM_IOCTL_I915_GEM_USERPTR turns a range of this process's memory into
// a GEM object (include/uapi/drm/i915_drm.h). The driver always installs an
// mmu_interval_notifier (the old UNSYNCHRONIZED mode is gone and refused);
// READ_ONLY asks for a GPU-read-only object (refused where the GTT cannot do
// it), and PROBE (I915_PARAM_HAS_USERPTR_PROBE, since 5.16) makes the ioctl
// check that the range is ordinary memory, EFAULT otherwise, without pinning
// anything. Pages are pinned only when the object is first used.
//
// What is not here: an execbuffer (DRM_IOCTL_I915_GEM_EXECBUFFER2) that makes
// the GPU read the object. Its batch (MI_* commands, softpin or relocations)
// depends on the graphics generation, and no Intel GPU was available to run
// it; registration cost, invalidation cost and the errors are reported
// instead.
#include "addon.h"
#include "drm_hw.h"

#include <cerrno>

namespace {

// include/uapi/drm/i915_drm.h
struct drm_i915_gem_userptr_abi {
	__u64 user_ptr;
	__u64 user_size;
	__u32 flags;	// I915_USERPTR_*
	__u32 handle;	// out: the GEM handle, non-zero
};
static_assert(sizeof(struct drm_i915_gem_userptr_abi) == 24, "drm_i915_gem_userptr");

struct drm_i915_getparam_abi {
	__s32 param;
	int *value;
};
static_assert(sizeof(struct drm_i915_getparam_abi) == 16, "drm_i915_getparam");

#define ML_DRM_I915_GETPARAM 0x06
#define ML_DRM_I915_GEM_USERPTR 0x33
#define ML_DRM_IOCTL_I915_GETPARAM ML_DRM_IOWR(ML_DRM_I915_GETPARAM, struct drm_i915_getparam_abi)
#define ML_DRM_IOCTL_I915_GEM_USERPTR ML_DRM_IOWR(ML_DRM_I915_GEM_USERPTR, struct drm_i915_gem_userptr_abi)

#define ML_I915_USERPTR_READ_ONLY 0x1u
#define ML_I915_USERPTR_PROBE 0x2u
#define ML_I915_USERPTR_UNSYNCHRONIZED 0x80000000u
#define ML_I915_PARAM_HAS_USERPTR_PROBE 56

// gemUserptr(fd, userPtr, userSize, flags) -> { handle, ns }
Napi::Value GemUserptr(const Napi::CallbackInfo &info)
{
	Napi::Env env = info.Env();
	int fd = ArgFd(info, 0, "fd");
	uint64_t addr = ArgU64(info, 1, "userPtr");
	uint64_t size = ArgU64(info, 2, "userSize");
	uint32_t flags = ArgU32(info, 3, "flags");
	drm_i915_gem_userptr_abi u{};

	CheckUserRange(env, "i915.gemUserptr", addr, size);
	u.user_ptr = addr;
	u.user_size = size;
	u.flags = flags;
	uint64_t t0 = MonoNs();
	int err = DrmIoctl(fd, ML_DRM_IOCTL_I915_GEM_USERPTR, &u);
	uint64_t t1 = MonoNs();
	if (err)
		ThrowSyscallError(env, err, "ioctl(DRM_IOCTL_I915_GEM_USERPTR)",
				  {SignedArg("fd", fd), {"user_ptr", addr, true}, {"user_size", size},
				   {"flags", flags, true}});
	Napi::Object o = Napi::Object::New(env);
	o.Set("handle", u.handle);
	o.Set("ns", (double)(t1 - t0));
	return o;
}

// getParam(fd, param) -> the int the driver wrote (EINVAL for a parameter
// this kernel does not know, e.g. HAS_USERPTR_PROBE before 5.16).
Napi::Value GetParam(const Napi::CallbackInfo &info)
{
	Napi::Env env = info.Env();
	int fd = ArgFd(info, 0, "fd");
	int64_t param = ArgI64(info, 1, "param");
	int value = 0;
	drm_i915_getparam_abi g{};

	if (param < INT32_MIN || param > INT32_MAX)
		ThrowArgError(env, "ERR_OUT_OF_RANGE", "i915.getParam: param must be an int32");
	g.param = (__s32)param;
	g.value = &value;
	if (int err = DrmIoctl(fd, ML_DRM_IOCTL_I915_GETPARAM, &g))
		ThrowSyscallError(env, err, "ioctl(DRM_IOCTL_I915_GETPARAM)",
				  {SignedArg("fd", fd), SignedArg("param", param)});
	return Napi::Number::New(env, value);
}

Napi::Value GemClose(const Napi::CallbackInfo &info)
{
	GemCloseOrThrow(info.Env(), ArgFd(info, 0, "fd"), ArgU32(info, 1, "handle"));
	return info.Env().Undefined();
}

Napi::Object Layout(Napi::Env env)
{
	DrmLayoutTable t(env);

	ML_LAYOUT_STRUCT(t, drm_i915_gem_userptr);
	ML_LAYOUT_FIELD(t, drm_i915_gem_userptr, user_ptr);
	ML_LAYOUT_FIELD(t, drm_i915_gem_userptr, user_size);
	ML_LAYOUT_FIELD(t, drm_i915_gem_userptr, flags);
	ML_LAYOUT_FIELD(t, drm_i915_gem_userptr, handle);
	ML_LAYOUT_STRUCT(t, drm_i915_getparam);
	ML_LAYOUT_FIELD(t, drm_i915_getparam, param);
	ML_LAYOUT_FIELD(t, drm_i915_getparam, value);
	return t.all;
}

} // namespace

void InitI915(Napi::Env env, Napi::Object exports)
{
	Napi::Object m = Napi::Object::New(env);

	m.Set("gemUserptr", Napi::Function::New(env, GemUserptr, "gemUserptr"));
	m.Set("gemClose", Napi::Function::New(env, GemClose, "gemClose"));
	m.Set("getParam", Napi::Function::New(env, GetParam, "getParam"));
	m.Set("layout", Layout(env));
	exports.Set("i915", m);

	Napi::Object c = Napi::Object::New(env);
#define C(name, v) c.Set(name, Napi::Number::New(env, (double)(v)))
	C("I915_USERPTR_READ_ONLY", ML_I915_USERPTR_READ_ONLY);
	C("I915_USERPTR_PROBE", ML_I915_USERPTR_PROBE);
	C("I915_USERPTR_UNSYNCHRONIZED", ML_I915_USERPTR_UNSYNCHRONIZED);
	C("I915_PARAM_HAS_USERPTR_PROBE", ML_I915_PARAM_HAS_USERPTR_PROBE);
	C("DRM_I915_GETPARAM", ML_DRM_I915_GETPARAM);
	C("DRM_I915_GEM_USERPTR", ML_DRM_I915_GEM_USERPTR);
	C("DRM_IOCTL_I915_GETPARAM", ML_DRM_IOCTL_I915_GETPARAM);
	C("DRM_IOCTL_I915_GEM_USERPTR", ML_DRM_IOCTL_I915_GEM_USERPTR);
#undef C
	exports.Set("i915Constants", c);
}
