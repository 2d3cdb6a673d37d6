#include "addon.h"
#include "syscall_error.h"

void InitDrm(Napi::Env env, Napi::Object exports)
{
}
