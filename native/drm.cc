// DRM: the driver-independent ioctls. drmVersion(path) opens a /dev/dri node
// and asks DRM_IOCTL_VERSION for the driver's name, date and description,
// the way libdrm's drmGetVersion() does (a first call for the lengths, a
// second one for the strings).
#include "addon.h"
#include "syscall_error.h"

#include <sys/ioctl.h>
#include <fcntl.h>
#include <unistd.h>
#include <cerrno>
#include <cstring>
#include <string>

namespace {

// From include/uapi/drm/drm.h (not every system has the uapi drm headers).
struct drm_version {
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
#define DRM_IOCTL_VERSION _IOWR('d', 0x00, struct drm_version)

int IoctlRetry(int fd, unsigned long req, void *arg)
{
	int r;
	do {
		r = ioctl(fd, req, arg);
	} while (r < 0 && (errno == EINTR || errno == EAGAIN));
	return r;
}

// drmVersion(path) -> { name, date, desc, major, minor, patchlevel }
Napi::Value DrmVersion(const Napi::CallbackInfo &info)
{
	Napi::Env env = info.Env();
	std::string path = info[0].As<Napi::String>().Utf8Value();
	int fd = open(path.c_str(), O_RDWR | O_CLOEXEC);
	if (fd < 0)
		fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		ThrowSyscallError(env, errno, "open");
	struct drm_version v;
	memset(&v, 0, sizeof(v));
	if (IoctlRetry(fd, DRM_IOCTL_VERSION, &v)) {
		int err = errno;
		close(fd);
		ThrowSyscallError(env, err, "ioctl(DRM_IOCTL_VERSION)", {{"fd", (uint64_t)fd}});
	}
	std::string name(v.name_len, '\0'), date(v.date_len, '\0'), desc(v.desc_len, '\0');
	v.name = name.data();
	v.date = date.data();
	v.desc = desc.data();
	if (IoctlRetry(fd, DRM_IOCTL_VERSION, &v)) {
		int err = errno;
		close(fd);
		ThrowSyscallError(env, err, "ioctl(DRM_IOCTL_VERSION)", {{"fd", (uint64_t)fd}});
	}
	close(fd);
	Napi::Object o = Napi::Object::New(env);
	o.Set("name", Napi::String::New(env, name.c_str()));
	o.Set("date", Napi::String::New(env, date.c_str()));
	o.Set("desc", Napi::String::New(env, desc.c_str()));
	o.Set("major", Napi::Number::New(env, v.version_major));
	o.Set("minor", Napi::Number::New(env, v.version_minor));
	o.Set("patchlevel", Napi::Number::New(env, v.version_patchlevel));
	return o;
}

} // namespace

void InitDrm(Napi::Env env, Napi::Object exports)
{
	exports.Set("drmVersion", Napi::Function::New(env, DrmVersion, "drmVersion"));
}
