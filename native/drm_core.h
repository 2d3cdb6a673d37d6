// DRM core (driver-independent) uapi pieces shared by drm.cc and mirrordrm.cc.
// The layouts are those of include/uapi/drm/drm.h, which not every host has.
#pragma once

#include <napi.h>
#include <linux/types.h>
#include <sys/ioctl.h>
#include <string>

struct drm_version_abi {
	int version_major;
	int version_minor;
	int version_patchlevel;
	size_t name_len;
	char *name;
	size_t date_len;
	char *date;
	size_t desc_len;
	char *desc;
};

struct drm_gem_close_abi {
	__u32 handle;
	__u32 pad;
};

#define ML_DRM_IOCTL_VERSION _IOWR('d', 0x00, struct drm_version_abi)
#define ML_DRM_IOCTL_GEM_CLOSE _IOW('d', 0x09, struct drm_gem_close_abi)

// ioctl() retried on EINTR/EAGAIN; returns 0 or the errno.
int DrmIoctl(int fd, unsigned long req, void *arg);

// DRM_IOCTL_VERSION as libdrm's drmGetVersion() does it: a first call for the
// string lengths, a second one for the strings. Returns
// { name, date, desc, major, minor, patchlevel }; throws the syscall error.
Napi::Object DrmVersionOf(Napi::Env env, int fd);
