#include "addon.h"
#include "syscall_error.h"

void InitMirrordrm(Napi::Env env, Napi::Object exports)
{
}
