// Errors from failed system calls, shaped like Node's own system errors:
//   err.code = 'EFAULT', err.errno = -14, err.syscall = 'madvise',
//   err.args = { addr: 0x7f..n, length: 4096, advice: 14 }
// and a message "EFAULT: Bad address, madvise(addr=0x7f.., length=4096, advice=14)".
// errno is negative, as in Node (fs, os, child_process); code is the errno name.
#pragma once
#include <napi.h>
#include <cstdint>
#include <initializer_list>

struct SyscallArg {
	const char *name;
	uint64_t value;
	bool hex = false;   // addresses and flags: hex in the message, BigInt in err.args
	bool is_signed = false;  // value holds an int64 (fd = -1, offsets)
};

// A signed argument, e.g. {"fd", -1}: SignedArg("fd", fd).
inline SyscallArg SignedArg(const char *name, int64_t value)
{
	return SyscallArg{name, (uint64_t)value, false, true};
}

// Build the error for `err` (a positive errno value) without throwing it.
Napi::Error SyscallError(Napi::Env env, int err, const char *syscall,
			 std::initializer_list<SyscallArg> args = {});

// Throw it as a JavaScript exception (NAPI_CPP_EXCEPTIONS is on).
[[noreturn]] void ThrowSyscallError(Napi::Env env, int err, const char *syscall,
				    std::initializer_list<SyscallArg> args = {});

// Argument helpers shared by every file: read a BigInt or Number as uint64,
// throwing a TypeError with code ERR_INVALID_ARG_TYPE naming the argument.
uint64_t ArgU64(const Napi::CallbackInfo &info, size_t index, const char *name);
int64_t ArgI64(const Napi::CallbackInfo &info, size_t index, const char *name);
int ArgFd(const Napi::CallbackInfo &info, size_t index, const char *name);
