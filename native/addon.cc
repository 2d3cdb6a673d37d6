// mirrorlab native addon: thin wrappers over kernel interfaces.
// Policy lives in TypeScript; this layer keeps the kernel's names and errno.
#include "addon.h"
#include "syscall_error.h"

#include <cerrno>
#include <ctime>

// clock_settime(CLOCK_REALTIME): the guest agent sets the wall clock of a
// guest restored from a saved state (the state's clock is as old as the
// file) from the host's. Seconds and nanoseconds, as struct timespec.
static Napi::Value SetRealtimeClock(const Napi::CallbackInfo &info)
{
	int64_t sec = ArgI64(info, 0, "sec");
	int64_t nsec = ArgI64(info, 1, "nsec");
	struct timespec ts = {(time_t)sec, (long)nsec};
	if (clock_settime(CLOCK_REALTIME, &ts))
		ThrowSyscallError(info.Env(), errno, "clock_settime",
				  {{"clockid", CLOCK_REALTIME}, SignedArg("sec", sec), SignedArg("nsec", nsec)});
	return info.Env().Undefined();
}

static Napi::Object Init(Napi::Env env, Napi::Object exports)
{
	InitMm(env, exports);
	InitForkChild(env, exports);
	InitPagemap(env, exports);
	InitUserfaultfd(env, exports);
	InitThreadAccess(env, exports);
	InitFaultTiming(env, exports);
	InitDrm(env, exports);
	InitKvm(env, exports);
	InitMirrordrm(env, exports);
	InitFakevram(env, exports);
	InitCuda(env, exports);
	InitAmdgpu(env, exports);
	InitI915(env, exports);
	InitXe(env, exports);
	InitNouveau(env, exports);
	exports.Set("setRealtimeClock", Napi::Function::New(env, SetRealtimeClock, "setRealtimeClock"));
	return exports;
}

NODE_API_MODULE(mirrorlab, Init)
