#include "addon.h"
#include "syscall_error.h"

void InitThreadAccess(Napi::Env env, Napi::Object exports)
{
}
