#include "addon.h"
#include "syscall_error.h"

void InitPagemap(Napi::Env env, Napi::Object exports)
{
}
