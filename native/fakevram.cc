#include "addon.h"
#include "syscall_error.h"

void InitFakevram(Napi::Env env, Napi::Object exports)
{
}
