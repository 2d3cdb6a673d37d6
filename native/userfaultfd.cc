#include "addon.h"
#include "syscall_error.h"

void InitUserfaultfd(Napi::Env env, Napi::Object exports)
{
}
