#include "addon.h"
#include "syscall_error.h"

void InitFaultTiming(Napi::Env env, Napi::Object exports)
{
}
