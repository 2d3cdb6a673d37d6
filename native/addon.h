// One Init function per kernel interface; each lives in its own file and
// adds its functions and constants to the addon's exports.
#pragma once
#include <napi.h>

void InitMm(Napi::Env env, Napi::Object exports);            // mm.cc
void InitForkChild(Napi::Env env, Napi::Object exports);     // fork_child.cc
void InitPagemap(Napi::Env env, Napi::Object exports);       // pagemap.cc
void InitUserfaultfd(Napi::Env env, Napi::Object exports);   // userfaultfd.cc
void InitThreadAccess(Napi::Env env, Napi::Object exports);  // thread_access.cc
void InitFaultTiming(Napi::Env env, Napi::Object exports);   // fault_timing.cc
void InitDrm(Napi::Env env, Napi::Object exports);           // drm.cc
void InitKvm(Napi::Env env, Napi::Object exports);           // kvm.cc
void InitMirrordrm(Napi::Env env, Napi::Object exports);     // mirrordrm.cc
void InitFakevram(Napi::Env env, Napi::Object exports);      // fakevram.cc
void InitCuda(Napi::Env env, Napi::Object exports);          // cuda.cc
void InitAmdgpu(Napi::Env env, Napi::Object exports);        // amdgpu.cc
void InitI915(Napi::Env env, Napi::Object exports);          // i915.cc
void InitXe(Napi::Env env, Napi::Object exports);            // xe.cc
void InitNouveau(Napi::Env env, Napi::Object exports);       // nouveau.cc
