#include "addon.h"
#include "syscall_error.h"

void InitForkChild(Napi::Env env, Napi::Object exports)
{
}
