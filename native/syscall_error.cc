#include "syscall_error.h"

#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <string>

static std::string ErrnoName(int err)
{
	const char *name = strerrorname_np(err);  // glibc >= 2.32
	if (name)
		return name;
	return "E" + std::to_string(err);
}

Napi::Error SyscallError(Napi::Env env, int err, const char *syscall,
			 std::initializer_list<SyscallArg> args)
{
	std::string code = ErrnoName(err);
	std::string msg = code + ": " + strerror(err) + ", " + syscall + "(";
	Napi::Object argObj = Napi::Object::New(env);
	bool first = true;
	for (const SyscallArg &a : args) {
		char buf[64];
		if (a.hex)
			snprintf(buf, sizeof(buf), "0x%" PRIx64, a.value);
		else if (a.is_signed)
			snprintf(buf, sizeof(buf), "%" PRId64, (int64_t)a.value);
		else
			snprintf(buf, sizeof(buf), "%" PRIu64, a.value);
		msg += (first ? "" : ", ");
		msg += a.name;
		msg += "=";
		msg += buf;
		first = false;
		if (a.is_signed)
			argObj.Set(a.name, Napi::Number::New(env, (double)(int64_t)a.value));
		else if (a.hex || a.value > (1ULL << 53))
			argObj.Set(a.name, Napi::BigInt::New(env, a.value));
		else
			argObj.Set(a.name, Napi::Number::New(env, (double)a.value));
	}
	msg += ")";
	Napi::Error e = Napi::Error::New(env, msg);
	e.Set("code", Napi::String::New(env, code));
	e.Set("errno", Napi::Number::New(env, -err));
	e.Set("syscall", Napi::String::New(env, syscall));
	e.Set("args", argObj);
	return e;
}

void ThrowSyscallError(Napi::Env env, int err, const char *syscall,
		       std::initializer_list<SyscallArg> args)
{
	throw SyscallError(env, err, syscall, args);
}

static Napi::Error ArgTypeError(Napi::Env env, const char *name, const char *want)
{
	Napi::TypeError e = Napi::TypeError::New(
		env, std::string("The \"") + name + "\" argument must be " + want);
	e.Set("code", Napi::String::New(env, "ERR_INVALID_ARG_TYPE"));
	return e;
}

uint64_t ArgU64(const Napi::CallbackInfo &info, size_t index, const char *name)
{
	Napi::Value v = info[index];
	if (v.IsBigInt()) {
		bool lossless;
		uint64_t r = v.As<Napi::BigInt>().Uint64Value(&lossless);
		if (!lossless)
			throw ArgTypeError(info.Env(), name, "a BigInt in the uint64 range");
		return r;
	}
	if (v.IsNumber()) {
		double d = v.As<Napi::Number>().DoubleValue();
		if (d < 0 || d != (double)(uint64_t)d || d > 9007199254740991.0)
			throw ArgTypeError(info.Env(), name, "a non-negative safe integer");
		return (uint64_t)d;
	}
	throw ArgTypeError(info.Env(), name, "of type bigint or number");
}

int64_t ArgI64(const Napi::CallbackInfo &info, size_t index, const char *name)
{
	Napi::Value v = info[index];
	if (v.IsBigInt()) {
		bool lossless;
		int64_t r = v.As<Napi::BigInt>().Int64Value(&lossless);
		if (!lossless)
			throw ArgTypeError(info.Env(), name, "a BigInt in the int64 range");
		return r;
	}
	if (v.IsNumber()) {
		double d = v.As<Napi::Number>().DoubleValue();
		if (d != (double)(int64_t)d)
			throw ArgTypeError(info.Env(), name, "an integer");
		return (int64_t)d;
	}
	throw ArgTypeError(info.Env(), name, "of type bigint or number");
}

int ArgFd(const Napi::CallbackInfo &info, size_t index, const char *name)
{
	int64_t fd = ArgI64(info, index, name);
	if (fd < 0 || fd > INT32_MAX)
		throw ArgTypeError(info.Env(), name, "a file descriptor");
	return (int)fd;
}
