// Pieces shared by the hardware DRM backends (amdgpu.cc, i915.cc, xe.cc,
// nouveau.cc): the driver-private ioctl numbering, the check of a user range
// before any ioctl, a monotonic clock for the registration cost, and the
// layout table each file exports so that test/unit/drm-uapi-layout.test.ts
// can hold our struct definitions against the kernels' own uapi headers.
// The structs themselves are defined in each file, from the uapi headers, so
// that the build needs no kernel drm headers (as drm_core.h does for drm.h).
#pragma once

#include "drm_core.h"
#include "syscall_error.h"

#include <napi.h>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <string>

// include/uapi/drm/drm.h: driver ioctls are numbered from DRM_COMMAND_BASE.
#define ML_DRM_COMMAND_BASE 0x40
#define ML_DRM_IOW(nr, type) _IOW('d', ML_DRM_COMMAND_BASE + (nr), type)
#define ML_DRM_IOWR(nr, type) _IOWR('d', ML_DRM_COMMAND_BASE + (nr), type)

// Every driver here refuses ranges that are not whole pages; we refuse them
// first, with a clear error and no ioctl, so that an errno from the driver
// always means the driver's own decision about a well-formed range.
#define ML_DRM_PAGE_SIZE 4096ull

inline std::string HexU64(uint64_t v)
{
	char b[24];

	snprintf(b, sizeof(b), "0x%llx", (unsigned long long)v);
	return b;
}

// A RangeError or Error with Node's code (ERR_OUT_OF_RANGE,
// ERR_INVALID_ARG_VALUE), the same shape src/errors.ts gives its own.
[[noreturn]] inline void ThrowArgError(Napi::Env env, const char *code, const std::string &msg)
{
	Napi::Error e = std::string(code) == "ERR_OUT_OF_RANGE" ?
		(Napi::Error)Napi::RangeError::New(env, msg) : Napi::Error::New(env, msg);
	e.Set("code", Napi::String::New(env, code));
	throw e;
}

// addr and length page aligned, length non-zero, addr + length not wrapping.
inline void CheckUserRange(Napi::Env env, const char *fn, uint64_t addr, uint64_t length)
{
	if (addr % ML_DRM_PAGE_SIZE)
		ThrowArgError(env, "ERR_INVALID_ARG_VALUE", std::string(fn) + ": address " + HexU64(addr) +
			      " is not page aligned (4096)");
	if (length == 0 || length % ML_DRM_PAGE_SIZE)
		ThrowArgError(env, "ERR_INVALID_ARG_VALUE", std::string(fn) + ": length " + HexU64(length) +
			      " must be a positive multiple of the page size (4096)");
	if (addr + length < addr)
		ThrowArgError(env, "ERR_OUT_OF_RANGE", std::string(fn) + ": range " + HexU64(addr) + " + " +
			      HexU64(length) + " wraps around");
}

// A handle, VM id or flags word that the uapi holds in 32 bits.
inline uint32_t ArgU32(const Napi::CallbackInfo &info, size_t index, const char *name)
{
	uint64_t v = ArgU64(info, index, name);

	if (v > UINT32_MAX)
		ThrowArgError(info.Env(), "ERR_OUT_OF_RANGE", std::string("The value of \"") + name +
			      "\" is out of range. It must be <= 0xffffffff. Received " + HexU64(v));
	return (uint32_t)v;
}

inline uint64_t MonoNs()
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

// DRM_IOCTL_GEM_CLOSE of a handle from a userptr ioctl (amdgpu, i915).
inline void GemCloseOrThrow(Napi::Env env, int fd, uint32_t handle)
{
	drm_gem_close_abi c{};

	c.handle = handle;
	if (int err = DrmIoctl(fd, ML_DRM_IOCTL_GEM_CLOSE, &c))
		ThrowSyscallError(env, err, "ioctl(DRM_IOCTL_GEM_CLOSE)",
				  {SignedArg("fd", fd), {"handle", handle}});
}

// The layout table: { <kernel struct name>: { name, size, offsets: {field:
// offset}, sizes: {field: size} } }, from sizeof/offsetof of our definitions.
struct DrmLayoutTable {
	Napi::Env env;
	Napi::Object all;
	Napi::Object offsets, sizes;

	explicit DrmLayoutTable(Napi::Env e) : env(e), all(Napi::Object::New(e)) {}

	void Struct(const char *name, size_t size)
	{
		Napi::Object o = Napi::Object::New(env);

		offsets = Napi::Object::New(env);
		sizes = Napi::Object::New(env);
		o.Set("name", name);
		o.Set("size", (double)size);
		o.Set("offsets", offsets);
		o.Set("sizes", sizes);
		all.Set(name, o);
	}

	void Field(const char *name, size_t offset, size_t size)
	{
		offsets.Set(name, (double)offset);
		sizes.Set(name, (double)size);
	}
};

// Our definitions are named <kernel name>_abi, so that a build that does see
// the kernel's headers cannot clash with them; the table uses the kernel name.
#define ML_LAYOUT_STRUCT(t, s) (t).Struct(#s, sizeof(struct s##_abi))
#define ML_LAYOUT_FIELD(t, s, f) \
	(t).Field(#f, offsetof(struct s##_abi, f), sizeof(((struct s##_abi *)nullptr)->f))
