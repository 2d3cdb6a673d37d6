// DRM: the driver-independent ioctls. drmVersion(path) opens a /dev/dri node
// and asks DRM_IOCTL_VERSION for the driver's name, date and description,
// the way libdrm's drmGetVersion() does (a first call for the lengths, a
// second one for the strings).
#include "addon.h"
#include "drm_core.h"
#include "syscall_error.h"

#include <sys/ioctl.h>
#include <fcntl.h>
#include <unistd.h>
#include <cerrno>
#include <cstring>
#include <string>

int DrmIoctl(int fd, unsigned long req, void *arg)
{
	int r;

	do {
		r = ioctl(fd, req, arg);
	} while (r < 0 && (errno == EINTR || errno == EAGAIN));
	return r < 0 ? errno : 0;
}

Napi::Object DrmVersionOf(Napi::Env env, int fd)
{
	drm_version_abi v{};

	if (int err = DrmIoctl(fd, ML_DRM_IOCTL_VERSION, &v))
		ThrowSyscallError(env, err, "ioctl(DRM_IOCTL_VERSION)", {{"fd", (uint64_t)fd}});
	std::string name(v.name_len, '\0'), date(v.date_len, '\0'), desc(v.desc_len, '\0');
	v.name = name.data();
	v.date = date.data();
	v.desc = desc.data();
	if (int err = DrmIoctl(fd, ML_DRM_IOCTL_VERSION, &v))
		ThrowSyscallError(env, err, "ioctl(DRM_IOCTL_VERSION)", {{"fd", (uint64_t)fd}});
	Napi::Object o = Napi::Object::New(env);
	o.Set("name", name.substr(0, v.name_len));
	o.Set("date", date.substr(0, v.date_len));
	o.Set("desc", desc.substr(0, v.desc_len));
	o.Set("major", v.version_major);
	o.Set("minor", v.version_minor);
	o.Set("patchlevel", v.version_patchlevel);
	return o;
}

namespace {

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
	try {
		Napi::Object o = DrmVersionOf(env, fd);
		close(fd);
		return o;
	} catch (...) {
		close(fd);
		throw;
	}
}

} // namespace

void InitDrm(Napi::Env env, Napi::Object exports)
{
	exports.Set("drmVersion", Napi::Function::New(env, DrmVersion, "drmVersion"));
}
