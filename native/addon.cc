// mirrorlab native addon: thin wrappers over kernel interfaces.
// Policy lives in TypeScript; this layer keeps the kernel's names and errno.
#include "addon.h"

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
	return exports;
}

NODE_API_MODULE(mirrorlab, Init)
