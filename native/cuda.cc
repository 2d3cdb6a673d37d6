// NVIDIA GPUs through the CUDA driver API. libcuda.so.1 is opened with
// dlopen at run time and every entry point is looked up by its versioned
// name (cuMemHostRegister_v2, ...), so the addon builds and loads on a
// machine without the driver or the CUDA toolkit: cudaLoad() then says why
// there is no GPU, and every other call refuses with ERR_CUDA_NOT_OPEN.
//
// The GPU side is four small PTX kernels kept as source (kPtx below) and
// JIT-compiled by the driver at cudaOpen(): copy, fill, xor-read and a
// strided touch. Each launch is timed with CUDA events on the default
// stream and waited for, so every call here is synchronous; a GPU fault
// (an HMM range the kernel refused, a freed pinned range) comes back as the
// CUresult of the synchronisation, and leaves the context unusable, as it
// does in any CUDA program: callers that provoke one do it in a child process.
//
// Errors: CUDA failures throw Error with code 'CUDA_ERROR_*' (cuGetErrorName),
// cuResult (the number), call (the entry point) and args; argument errors are
// TypeError / RangeError with Node's codes, thrown before any call.
#include "addon.h"
#include "syscall_error.h"

#include <dlfcn.h>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <string>
#include <vector>

namespace {

typedef int CUresult;
typedef int CUdevice;
typedef void *CUcontext;
typedef void *CUmodule;
typedef void *CUfunction;
typedef void *CUevent;
typedef void *CUstream;
typedef uint64_t CUdeviceptr;
struct CUmemLocation {
	int type;	// CU_MEM_LOCATION_TYPE_DEVICE 1, _HOST 2
	int id;
};

constexpr CUresult CUDA_SUCCESS = 0;
constexpr int CU_DEVICE_CPU = -1;
constexpr unsigned CU_MEM_ATTACH_GLOBAL = 1;
constexpr int CU_JIT_ERROR_LOG_BUFFER = 5;
constexpr int CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES = 6;

// Entry points, by the names the driver exports. The _v2 names are the ones
// cuda.h maps the plain names to; resolving them by hand is what the
// runtime's own loader does.
struct Api {
	void *lib = nullptr;
	CUresult (*cuInit)(unsigned);
	CUresult (*cuDriverGetVersion)(int *);
	CUresult (*cuGetErrorName)(CUresult, const char **);
	CUresult (*cuGetErrorString)(CUresult, const char **);
	CUresult (*cuDeviceGetCount)(int *);
	CUresult (*cuDeviceGet)(CUdevice *, int);
	CUresult (*cuDeviceGetName)(char *, int, CUdevice);
	CUresult (*cuDeviceGetAttribute)(int *, int, CUdevice);
	CUresult (*cuDeviceTotalMem)(size_t *, CUdevice);
	CUresult (*cuDeviceGetPCIBusId)(char *, int, CUdevice);
	CUresult (*cuDevicePrimaryCtxRetain)(CUcontext *, CUdevice);
	CUresult (*cuDevicePrimaryCtxRelease)(CUdevice);
	CUresult (*cuCtxSetCurrent)(CUcontext);
	CUresult (*cuCtxSynchronize)(void);
	CUresult (*cuModuleLoadDataEx)(CUmodule *, const void *, unsigned, int *, void **);
	CUresult (*cuModuleUnload)(CUmodule);
	CUresult (*cuModuleGetFunction)(CUfunction *, CUmodule, const char *);
	CUresult (*cuLaunchKernel)(CUfunction, unsigned, unsigned, unsigned, unsigned, unsigned,
				   unsigned, unsigned, CUstream, void **, void **);
	CUresult (*cuEventCreate)(CUevent *, unsigned);
	CUresult (*cuEventRecord)(CUevent, CUstream);
	CUresult (*cuEventSynchronize)(CUevent);
	CUresult (*cuEventElapsedTime)(float *, CUevent, CUevent);
	CUresult (*cuEventDestroy)(CUevent);
	CUresult (*cuMemAlloc)(CUdeviceptr *, size_t);
	CUresult (*cuMemAllocManaged)(CUdeviceptr *, size_t, unsigned);
	CUresult (*cuMemFree)(CUdeviceptr);
	CUresult (*cuMemGetInfo)(size_t *, size_t *);
	CUresult (*cuMemHostRegister)(void *, size_t, unsigned);
	CUresult (*cuMemHostUnregister)(void *);
	CUresult (*cuMemHostGetDevicePointer)(CUdeviceptr *, void *, unsigned);
	CUresult (*cuMemcpyDtoH)(void *, CUdeviceptr, size_t);
	CUresult (*cuMemsetD8)(CUdeviceptr, unsigned char, size_t);
	// Optional: the v1 prefetch (a device ordinal, CU_DEVICE_CPU for the
	// host) where the driver still has it, else v2 (a CUmemLocation).
	CUresult (*cuMemPrefetchAsync)(CUdeviceptr, size_t, CUdevice, CUstream);
	CUresult (*cuMemPrefetchAsync_v2)(CUdeviceptr, size_t, CUmemLocation, unsigned, CUstream);
};

Api api;
std::string loadError;	// why api is not usable; empty once loaded
std::string loadedPath;

// The one device in use: its primary context, and the module built from kPtx.
struct Session {
	bool open = false;
	int ordinal = -1;
	CUdevice dev = 0;
	CUcontext ctx = nullptr;
	CUmodule mod = nullptr;
	CUfunction copy = nullptr, fill = nullptr, xorRead = nullptr, touch = nullptr;
	CUevent start = nullptr, stop = nullptr;
	int sms = 0;
};
Session s;

// The kernels. Every one walks its range with a grid-stride loop over 64-bit
// words (touch: over pages), so one launch shape serves any size. Addresses
// are generic pointers converted to the global space: device memory,
// managed memory, registered host memory (through its device pointer) and,
// where the device has pageable memory access (HMM), any host address.
const char kPtx[] = R"PTX(
.version 7.0
.target sm_70
.address_size 64

// ml_copy(dst, src, words): dst[i] = src[i]
.visible .entry ml_copy(.param .u64 dst, .param .u64 src, .param .u64 words)
{
	.reg .pred %p;
	.reg .b32 %r<5>;
	.reg .b64 %rd<12>;
	ld.param.u64 %rd1, [dst];
	ld.param.u64 %rd2, [src];
	ld.param.u64 %rd3, [words];
	cvta.to.global.u64 %rd1, %rd1;
	cvta.to.global.u64 %rd2, %rd2;
	mov.u32 %r1, %ctaid.x;
	mov.u32 %r2, %ntid.x;
	mov.u32 %r3, %tid.x;
	mov.u32 %r4, %nctaid.x;
	cvt.u64.u32 %rd5, %r3;
	mad.wide.u32 %rd4, %r1, %r2, %rd5;
	mul.wide.u32 %rd6, %r4, %r2;
COPY_LOOP:
	setp.ge.u64 %p, %rd4, %rd3;
	@%p bra COPY_DONE;
	shl.b64 %rd7, %rd4, 3;
	add.s64 %rd8, %rd2, %rd7;
	ld.global.u64 %rd9, [%rd8];
	add.s64 %rd10, %rd1, %rd7;
	st.global.u64 [%rd10], %rd9;
	add.s64 %rd4, %rd4, %rd6;
	bra COPY_LOOP;
COPY_DONE:
	ret;
}

// ml_fill(dst, words, pattern): dst[i] = pattern + i
.visible .entry ml_fill(.param .u64 dst, .param .u64 words, .param .u64 pattern)
{
	.reg .pred %p;
	.reg .b32 %r<5>;
	.reg .b64 %rd<12>;
	ld.param.u64 %rd1, [dst];
	ld.param.u64 %rd3, [words];
	ld.param.u64 %rd2, [pattern];
	cvta.to.global.u64 %rd1, %rd1;
	mov.u32 %r1, %ctaid.x;
	mov.u32 %r2, %ntid.x;
	mov.u32 %r3, %tid.x;
	mov.u32 %r4, %nctaid.x;
	cvt.u64.u32 %rd5, %r3;
	mad.wide.u32 %rd4, %r1, %r2, %rd5;
	mul.wide.u32 %rd6, %r4, %r2;
FILL_LOOP:
	setp.ge.u64 %p, %rd4, %rd3;
	@%p bra FILL_DONE;
	shl.b64 %rd7, %rd4, 3;
	add.s64 %rd8, %rd1, %rd7;
	add.s64 %rd9, %rd2, %rd4;
	st.global.u64 [%rd8], %rd9;
	add.s64 %rd4, %rd4, %rd6;
	bra FILL_LOOP;
FILL_DONE:
	ret;
}

// ml_xor(src, words, out): *out ^= src[0] ^ src[1] ^ ...; a read that keeps
// every load live, for read bandwidth
.visible .entry ml_xor(.param .u64 src, .param .u64 words, .param .u64 out)
{
	.reg .pred %p;
	.reg .b32 %r<10>;
	.reg .b64 %rd<12>;
	ld.param.u64 %rd2, [src];
	ld.param.u64 %rd3, [words];
	ld.param.u64 %rd1, [out];
	cvta.to.global.u64 %rd1, %rd1;
	cvta.to.global.u64 %rd2, %rd2;
	mov.u32 %r1, %ctaid.x;
	mov.u32 %r2, %ntid.x;
	mov.u32 %r3, %tid.x;
	mov.u32 %r4, %nctaid.x;
	cvt.u64.u32 %rd5, %r3;
	mad.wide.u32 %rd4, %r1, %r2, %rd5;
	mul.wide.u32 %rd6, %r4, %r2;
	mov.u64 %rd11, 0;
XOR_LOOP:
	setp.ge.u64 %p, %rd4, %rd3;
	@%p bra XOR_DONE;
	shl.b64 %rd7, %rd4, 3;
	add.s64 %rd8, %rd2, %rd7;
	ld.global.u64 %rd9, [%rd8];
	xor.b64 %rd11, %rd11, %rd9;
	add.s64 %rd4, %rd4, %rd6;
	bra XOR_LOOP;
XOR_DONE:
	// Fold the warp's 32 values into lane 0 before the one atomic per warp:
	// an atomic per thread on one word (half a million of them) costs more
	// than reading 256 MiB. Launch() makes every block whole warps.
	mov.b64 {%r5, %r6}, %rd11;
	shfl.sync.bfly.b32 %r7, %r5, 16, 31, -1;
	shfl.sync.bfly.b32 %r8, %r6, 16, 31, -1;
	xor.b32 %r5, %r5, %r7;
	xor.b32 %r6, %r6, %r8;
	shfl.sync.bfly.b32 %r7, %r5, 8, 31, -1;
	shfl.sync.bfly.b32 %r8, %r6, 8, 31, -1;
	xor.b32 %r5, %r5, %r7;
	xor.b32 %r6, %r6, %r8;
	shfl.sync.bfly.b32 %r7, %r5, 4, 31, -1;
	shfl.sync.bfly.b32 %r8, %r6, 4, 31, -1;
	xor.b32 %r5, %r5, %r7;
	xor.b32 %r6, %r6, %r8;
	shfl.sync.bfly.b32 %r7, %r5, 2, 31, -1;
	shfl.sync.bfly.b32 %r8, %r6, 2, 31, -1;
	xor.b32 %r5, %r5, %r7;
	xor.b32 %r6, %r6, %r8;
	shfl.sync.bfly.b32 %r7, %r5, 1, 31, -1;
	shfl.sync.bfly.b32 %r8, %r6, 1, 31, -1;
	xor.b32 %r5, %r5, %r7;
	xor.b32 %r6, %r6, %r8;
	and.b32 %r9, %r3, 31;
	setp.ne.u32 %p, %r9, 0;
	@%p bra XOR_OUT;
	mov.b64 %rd11, {%r5, %r6};
	red.global.xor.b64 [%rd1], %rd11;
XOR_OUT:
	ret;
}

// ml_touch(src, pages, stride, out): *out += src[p * stride] for each page
// p, one byte per page: the GPU's first-touch fault path, one fault per page
.visible .entry ml_touch(.param .u64 src, .param .u64 pages, .param .u64 stride, .param .u64 out)
{
	.reg .pred %p;
	.reg .b32 %r<6>;
	.reg .b64 %rd<14>;
	ld.param.u64 %rd2, [src];
	ld.param.u64 %rd3, [pages];
	ld.param.u64 %rd12, [stride];
	ld.param.u64 %rd1, [out];
	cvta.to.global.u64 %rd1, %rd1;
	cvta.to.global.u64 %rd2, %rd2;
	mov.u32 %r1, %ctaid.x;
	mov.u32 %r2, %ntid.x;
	mov.u32 %r3, %tid.x;
	mov.u32 %r4, %nctaid.x;
	cvt.u64.u32 %rd5, %r3;
	mad.wide.u32 %rd4, %r1, %r2, %rd5;
	mul.wide.u32 %rd6, %r4, %r2;
	mov.u64 %rd11, 0;
TOUCH_LOOP:
	setp.ge.u64 %p, %rd4, %rd3;
	@%p bra TOUCH_DONE;
	mul.lo.u64 %rd7, %rd4, %rd12;
	add.s64 %rd8, %rd2, %rd7;
	ld.global.u8 %r5, [%rd8];
	cvt.u64.u32 %rd9, %r5;
	add.s64 %rd11, %rd11, %rd9;
	add.s64 %rd4, %rd4, %rd6;
	bra TOUCH_LOOP;
TOUCH_DONE:
	red.global.add.u64 [%rd1], %rd11;
	ret;
}
)PTX";

uint64_t NowNs()
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

std::string Hex(uint64_t v)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "0x%" PRIx64, v);
	return buf;
}

// A CUDA failure as an Error: code 'CUDA_ERROR_INVALID_VALUE', cuResult 1,
// call 'cuMemHostRegister_v2', args { ... } (addresses as BigInt).
[[noreturn]] void ThrowCuda(Napi::Env env, CUresult r, const char *call,
			    std::initializer_list<SyscallArg> args = {})
{
	const char *name = nullptr, *text = nullptr;

	if (api.cuGetErrorName)
		api.cuGetErrorName(r, &name);
	if (api.cuGetErrorString)
		api.cuGetErrorString(r, &text);
	std::string code = name ? name : "CUDA_ERROR_" + std::to_string(r);
	std::string msg = code + ": " + (text ? text : "unknown CUDA error") + ", " + call + "(";
	Napi::Object argObj = Napi::Object::New(env);
	bool first = true;

	for (const SyscallArg &a : args) {
		msg += (first ? "" : ", ");
		msg += a.name;
		msg += "=";
		msg += a.hex ? Hex(a.value) : std::to_string(a.value);
		first = false;
		if (a.hex || a.value > (1ULL << 53))
			argObj.Set(a.name, Napi::BigInt::New(env, a.value));
		else
			argObj.Set(a.name, Napi::Number::New(env, (double)a.value));
	}
	msg += ")";
	Napi::Error e = Napi::Error::New(env, msg);
	e.Set("code", Napi::String::New(env, code));
	e.Set("cuResult", Napi::Number::New(env, r));
	e.Set("call", Napi::String::New(env, call));
	e.Set("args", argObj);
	throw e;
}

#define CU_CHECK(env, expr, call, ...)                                  \
	do {                                                            \
		CUresult r_ = (expr);                                   \
		if (r_ != CUDA_SUCCESS)                                 \
			ThrowCuda(env, r_, call, ##__VA_ARGS__);        \
	} while (0)

[[noreturn]] void ThrowCode(Napi::Env env, const char *code, const std::string &msg, bool range = false)
{
	Napi::Error e = range ? (Napi::Error)Napi::RangeError::New(env, msg) : Napi::Error::New(env, msg);

	e.Set("code", Napi::String::New(env, code));
	throw e;
}

void NeedOpen(Napi::Env env)
{
	if (!s.open)
		ThrowCode(env, "ERR_CUDA_NOT_OPEN",
			  loadError.empty() ? "no CUDA device is open (cudaOpen first)"
					    : "CUDA is not available: " + loadError);
}

// A range of 64-bit words: aligned, non-empty, not wrapping.
void CheckWords(Napi::Env env, const char *what, uint64_t addr, uint64_t len)
{
	if (len == 0 || len % 8)
		ThrowCode(env, "ERR_OUT_OF_RANGE",
			  std::string(what) + ": length must be a positive multiple of 8, got " +
				  std::to_string(len), true);
	if (addr % 8)
		ThrowCode(env, "ERR_OUT_OF_RANGE",
			  std::string(what) + ": address " + Hex(addr) + " is not 8-byte aligned", true);
	if (addr + len < addr)
		ThrowCode(env, "ERR_OUT_OF_RANGE",
			  std::string(what) + ": range " + Hex(addr) + " + " + std::to_string(len) +
				  " wraps around", true);
}

template <typename F> bool Sym(F &fn, const char *name)
{
	fn = reinterpret_cast<F>(dlsym(api.lib, name));
	return fn != nullptr;
}

// dlopen + dlsym + cuInit(0). Returns "" or why CUDA cannot be used here.
std::string LoadApi(const std::string &path)
{
	api = Api{};
	api.lib = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
	if (!api.lib) {
		const char *e = dlerror();
		return std::string("dlopen ") + path + ": " + (e ? e : "failed");
	}
	struct {
		bool ok;
		const char *name;
	} need[] = {
		{Sym(api.cuInit, "cuInit"), "cuInit"},
		{Sym(api.cuDriverGetVersion, "cuDriverGetVersion"), "cuDriverGetVersion"},
		{Sym(api.cuGetErrorName, "cuGetErrorName"), "cuGetErrorName"},
		{Sym(api.cuGetErrorString, "cuGetErrorString"), "cuGetErrorString"},
		{Sym(api.cuDeviceGetCount, "cuDeviceGetCount"), "cuDeviceGetCount"},
		{Sym(api.cuDeviceGet, "cuDeviceGet"), "cuDeviceGet"},
		{Sym(api.cuDeviceGetName, "cuDeviceGetName"), "cuDeviceGetName"},
		{Sym(api.cuDeviceGetAttribute, "cuDeviceGetAttribute"), "cuDeviceGetAttribute"},
		{Sym(api.cuDeviceTotalMem, "cuDeviceTotalMem_v2"), "cuDeviceTotalMem_v2"},
		{Sym(api.cuDeviceGetPCIBusId, "cuDeviceGetPCIBusId"), "cuDeviceGetPCIBusId"},
		{Sym(api.cuDevicePrimaryCtxRetain, "cuDevicePrimaryCtxRetain"), "cuDevicePrimaryCtxRetain"},
		{Sym(api.cuDevicePrimaryCtxRelease, "cuDevicePrimaryCtxRelease_v2"), "cuDevicePrimaryCtxRelease_v2"},
		{Sym(api.cuCtxSetCurrent, "cuCtxSetCurrent"), "cuCtxSetCurrent"},
		{Sym(api.cuCtxSynchronize, "cuCtxSynchronize"), "cuCtxSynchronize"},
		{Sym(api.cuModuleLoadDataEx, "cuModuleLoadDataEx"), "cuModuleLoadDataEx"},
		{Sym(api.cuModuleUnload, "cuModuleUnload"), "cuModuleUnload"},
		{Sym(api.cuModuleGetFunction, "cuModuleGetFunction"), "cuModuleGetFunction"},
		{Sym(api.cuLaunchKernel, "cuLaunchKernel"), "cuLaunchKernel"},
		{Sym(api.cuEventCreate, "cuEventCreate"), "cuEventCreate"},
		{Sym(api.cuEventRecord, "cuEventRecord"), "cuEventRecord"},
		{Sym(api.cuEventSynchronize, "cuEventSynchronize"), "cuEventSynchronize"},
		{Sym(api.cuEventElapsedTime, "cuEventElapsedTime"), "cuEventElapsedTime"},
		{Sym(api.cuEventDestroy, "cuEventDestroy_v2"), "cuEventDestroy_v2"},
		{Sym(api.cuMemAlloc, "cuMemAlloc_v2"), "cuMemAlloc_v2"},
		{Sym(api.cuMemAllocManaged, "cuMemAllocManaged"), "cuMemAllocManaged"},
		{Sym(api.cuMemFree, "cuMemFree_v2"), "cuMemFree_v2"},
		{Sym(api.cuMemGetInfo, "cuMemGetInfo_v2"), "cuMemGetInfo_v2"},
		{Sym(api.cuMemHostRegister, "cuMemHostRegister_v2"), "cuMemHostRegister_v2"},
		{Sym(api.cuMemHostUnregister, "cuMemHostUnregister"), "cuMemHostUnregister"},
		{Sym(api.cuMemHostGetDevicePointer, "cuMemHostGetDevicePointer_v2"), "cuMemHostGetDevicePointer_v2"},
		{Sym(api.cuMemcpyDtoH, "cuMemcpyDtoH_v2"), "cuMemcpyDtoH_v2"},
		{Sym(api.cuMemsetD8, "cuMemsetD8_v2"), "cuMemsetD8_v2"},
	};
	for (auto &n : need) {
		if (!n.ok) {
			dlclose(api.lib);
			api = Api{};
			return path + " has no " + n.name;
		}
	}
	Sym(api.cuMemPrefetchAsync, "cuMemPrefetchAsync");
	Sym(api.cuMemPrefetchAsync_v2, "cuMemPrefetchAsync_v2");
	CUresult r = api.cuInit(0);
	if (r != CUDA_SUCCESS) {
		const char *name = nullptr;

		api.cuGetErrorName(r, &name);
		return std::string("cuInit: ") + (name ? name : std::to_string(r));
	}
	return "";
}

// cudaLoad(path) -> { ok, path, error }: never throws for a missing driver.
Napi::Value CudaLoad(const Napi::CallbackInfo &info)
{
	Napi::Env env = info.Env();
	std::string path = info.Length() > 0 && info[0].IsString()
		? info[0].As<Napi::String>().Utf8Value() : "libcuda.so.1";

	if (!api.lib || path != loadedPath) {
		if (s.open)
			ThrowCode(env, "ERR_CUDA_BUSY", "close the open device before loading another library");
		loadError = LoadApi(path);
		loadedPath = path;
	}
	Napi::Object o = Napi::Object::New(env);
	o.Set("ok", loadError.empty());
	o.Set("path", loadedPath);
	o.Set("error", loadError.empty() ? env.Null() : Napi::String::New(env, loadError));
	return o;
}

void NeedLoaded(Napi::Env env)
{
	if (!api.lib || !loadError.empty())
		ThrowCode(env, "ERR_CUDA_NOT_LOADED",
			  loadError.empty() ? "cudaLoad() first" : "CUDA is not available: " + loadError);
}

Napi::Value CudaDriverVersion(const Napi::CallbackInfo &info)
{
	int v = 0;

	NeedLoaded(info.Env());
	CU_CHECK(info.Env(), api.cuDriverGetVersion(&v), "cuDriverGetVersion");
	return Napi::Number::New(info.Env(), v);
}

Napi::Value CudaDeviceCount(const Napi::CallbackInfo &info)
{
	int n = 0;

	NeedLoaded(info.Env());
	CU_CHECK(info.Env(), api.cuDeviceGetCount(&n), "cuDeviceGetCount");
	return Napi::Number::New(info.Env(), n);
}

// The attributes the issue's facts name, read by number so that a driver
// that lacks one reports it as null rather than failing the whole call.
const struct {
	const char *name;
	int attr;
} kAttrs[] = {
	{"multiprocessorCount", 16},
	{"unifiedAddressing", 41},
	{"computeCapabilityMajor", 75},
	{"computeCapabilityMinor", 76},
	{"managedMemory", 83},
	{"hostNativeAtomicSupported", 86},
	{"pageableMemoryAccess", 88},
	{"concurrentManagedAccess", 89},
	{"canUseHostPointerForRegisteredMem", 91},
	{"hostRegisterSupported", 99},
	{"pageableMemoryAccessUsesHostPageTables", 100},
	{"directManagedMemAccessFromHost", 101},
	{"readOnlyHostRegisterSupported", 113},
	{"gpuDirectRdmaSupported", 116},
};

// cudaDevice(ordinal) -> { name, pciBusId, totalMem, attributes }
Napi::Value CudaDevice(const Napi::CallbackInfo &info)
{
	Napi::Env env = info.Env();
	int64_t ordinal = ArgI64(info, 0, "ordinal");
	CUdevice dev;
	char name[256] = "", bus[64] = "";
	size_t total = 0;

	NeedLoaded(env);
	CU_CHECK(env, api.cuDeviceGet(&dev, (int)ordinal), "cuDeviceGet", {SignedArg("ordinal", ordinal)});
	CU_CHECK(env, api.cuDeviceGetName(name, sizeof(name), dev), "cuDeviceGetName");
	CU_CHECK(env, api.cuDeviceTotalMem(&total, dev), "cuDeviceTotalMem_v2");
	if (api.cuDeviceGetPCIBusId(bus, sizeof(bus), dev) != CUDA_SUCCESS)
		bus[0] = 0;
	Napi::Object attrs = Napi::Object::New(env);
	for (auto &a : kAttrs) {
		int v = 0;

		if (api.cuDeviceGetAttribute(&v, a.attr, dev) == CUDA_SUCCESS)
			attrs.Set(a.name, v);
		else
			attrs.Set(a.name, env.Null());
	}
	Napi::Object o = Napi::Object::New(env);
	o.Set("name", name);
	o.Set("pciBusId", bus);
	o.Set("totalMem", Napi::BigInt::New(env, (uint64_t)total));
	o.Set("attributes", attrs);
	return o;
}

void CloseSession()
{
	if (s.start)
		api.cuEventDestroy(s.start);
	if (s.stop)
		api.cuEventDestroy(s.stop);
	if (s.mod)
		api.cuModuleUnload(s.mod);
	if (s.ctx)
		api.cuDevicePrimaryCtxRelease(s.dev);
	s = Session{};
}

// cudaOpen(ordinal): retain the device's primary context, make it current
// on this (the JavaScript) thread, JIT the kernels. One device at a time.
Napi::Value CudaOpen(const Napi::CallbackInfo &info)
{
	Napi::Env env = info.Env();
	int64_t ordinal = ArgI64(info, 0, "ordinal");
	char log[4096] = "";

	NeedLoaded(env);
	if (s.open) {
		if (s.ordinal == ordinal)
			return env.Undefined();
		ThrowCode(env, "ERR_CUDA_BUSY", "device " + std::to_string(s.ordinal) + " is open: close it first");
	}
	try {
		CU_CHECK(env, api.cuDeviceGet(&s.dev, (int)ordinal), "cuDeviceGet", {SignedArg("ordinal", ordinal)});
		CU_CHECK(env, api.cuDevicePrimaryCtxRetain(&s.ctx, s.dev), "cuDevicePrimaryCtxRetain");
		CU_CHECK(env, api.cuCtxSetCurrent(s.ctx), "cuCtxSetCurrent");
		int opts[] = {CU_JIT_ERROR_LOG_BUFFER, CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES};
		void *vals[] = {log, (void *)(uintptr_t)sizeof(log)};
		CUresult r = api.cuModuleLoadDataEx(&s.mod, kPtx, 2, opts, vals);
		if (r != CUDA_SUCCESS) {
			s.mod = nullptr;
			ThrowCuda(env, r, "cuModuleLoadDataEx");
		}
		CU_CHECK(env, api.cuModuleGetFunction(&s.copy, s.mod, "ml_copy"), "cuModuleGetFunction");
		CU_CHECK(env, api.cuModuleGetFunction(&s.fill, s.mod, "ml_fill"), "cuModuleGetFunction");
		CU_CHECK(env, api.cuModuleGetFunction(&s.xorRead, s.mod, "ml_xor"), "cuModuleGetFunction");
		CU_CHECK(env, api.cuModuleGetFunction(&s.touch, s.mod, "ml_touch"), "cuModuleGetFunction");
		CU_CHECK(env, api.cuEventCreate(&s.start, 0), "cuEventCreate");
		CU_CHECK(env, api.cuEventCreate(&s.stop, 0), "cuEventCreate");
		CU_CHECK(env, api.cuDeviceGetAttribute(&s.sms, 16, s.dev), "cuDeviceGetAttribute");
	} catch (...) {
		CloseSession();
		throw;
	}
	s.ordinal = (int)ordinal;
	s.open = true;
	return env.Undefined();
}

Napi::Value CudaClose(const Napi::CallbackInfo &info)
{
	if (s.open)
		CloseSession();
	return info.Env().Undefined();
}

// cudaMemInfo() -> { free, total } of the open device, bytes
Napi::Value CudaMemInfo(const Napi::CallbackInfo &info)
{
	Napi::Env env = info.Env();
	size_t free_ = 0, total = 0;

	NeedOpen(env);
	CU_CHECK(env, api.cuMemGetInfo(&free_, &total), "cuMemGetInfo_v2");
	Napi::Object o = Napi::Object::New(env);
	o.Set("free", Napi::BigInt::New(env, (uint64_t)free_));
	o.Set("total", Napi::BigInt::New(env, (uint64_t)total));
	return o;
}

// cudaHostRegister(addr, length, flags) -> ns the call took. The driver pins
// the range (pin_user_pages) and maps it for the device.
Napi::Value CudaHostRegister(const Napi::CallbackInfo &info)
{
	Napi::Env env = info.Env();
	uint64_t addr = ArgU64(info, 0, "addr");
	uint64_t len = ArgU64(info, 1, "length");
	uint64_t flags = ArgU64(info, 2, "flags");

	if (len == 0 || addr + len < addr)
		ThrowCode(env, "ERR_OUT_OF_RANGE", "cudaHostRegister: empty or wrapping range " + Hex(addr) +
			  " + " + std::to_string(len), true);
	if (flags > 0xf)
		ThrowCode(env, "ERR_OUT_OF_RANGE", "cudaHostRegister: unknown flags " + Hex(flags), true);
	NeedOpen(env);
	uint64_t t0 = NowNs();
	CU_CHECK(env, api.cuMemHostRegister((void *)addr, len, (unsigned)flags), "cuMemHostRegister_v2",
		 {{"addr", addr, true}, {"length", len}, {"flags", flags, true}});
	return Napi::Number::New(env, (double)(NowNs() - t0));
}

// cudaHostUnregister(addr) -> ns
Napi::Value CudaHostUnregister(const Napi::CallbackInfo &info)
{
	Napi::Env env = info.Env();
	uint64_t addr = ArgU64(info, 0, "addr");

	NeedOpen(env);
	uint64_t t0 = NowNs();
	CU_CHECK(env, api.cuMemHostUnregister((void *)addr), "cuMemHostUnregister", {{"addr", addr, true}});
	return Napi::Number::New(env, (double)(NowNs() - t0));
}

// cudaHostDevicePointer(addr) -> the device's address of registered memory
Napi::Value CudaHostDevicePointer(const Napi::CallbackInfo &info)
{
	Napi::Env env = info.Env();
	uint64_t addr = ArgU64(info, 0, "addr");
	CUdeviceptr d = 0;

	NeedOpen(env);
	CU_CHECK(env, api.cuMemHostGetDevicePointer(&d, (void *)addr, 0), "cuMemHostGetDevicePointer_v2",
		 {{"addr", addr, true}});
	return Napi::BigInt::New(env, (uint64_t)d);
}

// cudaMemAlloc(length, managed) -> device address (cuMemAlloc, or
// cuMemAllocManaged with CU_MEM_ATTACH_GLOBAL)
Napi::Value CudaMemAlloc(const Napi::CallbackInfo &info)
{
	Napi::Env env = info.Env();
	uint64_t len = ArgU64(info, 0, "length");
	bool managed = info[1].As<Napi::Boolean>().Value();
	CUdeviceptr d = 0;

	if (len == 0)
		ThrowCode(env, "ERR_OUT_OF_RANGE", "cudaMemAlloc: length must be positive", true);
	NeedOpen(env);
	if (managed)
		CU_CHECK(env, api.cuMemAllocManaged(&d, len, CU_MEM_ATTACH_GLOBAL), "cuMemAllocManaged",
			 {{"length", len}, {"flags", CU_MEM_ATTACH_GLOBAL, true}});
	else
		CU_CHECK(env, api.cuMemAlloc(&d, len), "cuMemAlloc_v2", {{"length", len}});
	return Napi::BigInt::New(env, (uint64_t)d);
}

Napi::Value CudaMemFree(const Napi::CallbackInfo &info)
{
	Napi::Env env = info.Env();
	uint64_t d = ArgU64(info, 0, "ptr");

	NeedOpen(env);
	CU_CHECK(env, api.cuMemFree(d), "cuMemFree_v2", {{"ptr", d, true}});
	return env.Undefined();
}

// cudaPrefetch(ptr, length, toDevice) -> ns, waited for: managed memory (or
// HMM pageable memory) moved to the open device or back to the host.
Napi::Value CudaPrefetch(const Napi::CallbackInfo &info)
{
	Napi::Env env = info.Env();
	uint64_t d = ArgU64(info, 0, "ptr");
	uint64_t len = ArgU64(info, 1, "length");
	bool toDevice = info[2].As<Napi::Boolean>().Value();

	NeedOpen(env);
	uint64_t t0 = NowNs();
	if (api.cuMemPrefetchAsync)
		CU_CHECK(env, api.cuMemPrefetchAsync(d, len, toDevice ? s.dev : CU_DEVICE_CPU, nullptr),
			 "cuMemPrefetchAsync", {{"ptr", d, true}, {"length", len}});
	else if (api.cuMemPrefetchAsync_v2)
		CU_CHECK(env, api.cuMemPrefetchAsync_v2(d, len, CUmemLocation{toDevice ? 1 : 2, toDevice ? s.dev : 0},
							 0, nullptr),
			 "cuMemPrefetchAsync_v2", {{"ptr", d, true}, {"length", len}});
	else
		ThrowCode(env, "ERR_CUDA_UNSUPPORTED", "the driver exports no cuMemPrefetchAsync");
	CU_CHECK(env, api.cuCtxSynchronize(), "cuCtxSynchronize");
	return Napi::Number::New(env, (double)(NowNs() - t0));
}

// cudaMemset(ptr, byte, length): device-side memset, waited for
Napi::Value CudaMemset(const Napi::CallbackInfo &info)
{
	Napi::Env env = info.Env();
	uint64_t d = ArgU64(info, 0, "ptr");
	uint64_t v = ArgU64(info, 1, "value");
	uint64_t len = ArgU64(info, 2, "length");

	NeedOpen(env);
	CU_CHECK(env, api.cuMemsetD8(d, (unsigned char)v, len), "cuMemsetD8_v2", {{"ptr", d, true}, {"length", len}});
	CU_CHECK(env, api.cuCtxSynchronize(), "cuCtxSynchronize");
	return env.Undefined();
}

// Launch one kernel over `items` items (words or pages), threads per block
// 256 and at most 16 blocks per multiprocessor (or `maxThreads` threads in
// all, for touch: 1 makes every fault wait for the one before), and wait.
// Returns the kernel's time by events, in ms.
double Launch(Napi::Env env, CUfunction f, const char *name, void **params, uint64_t items, uint64_t maxThreads,
	      bool wholeWarps = false)
{
	uint64_t threads = items < maxThreads ? items : maxThreads;
	unsigned block = threads < 256 ? (unsigned)threads : 256;

	// ml_xor reduces across the warp with shfl.sync on a full mask: every
	// lane must exist (the extra ones find no word and add nothing).
	if (wholeWarps)
		block = (block + 31) & ~31u;
	uint64_t grid = (threads + block - 1) / block;
	uint64_t gridMax = (uint64_t)(s.sms > 0 ? s.sms : 1) * 16;
	float ms = 0;

	if (grid > gridMax)
		grid = gridMax;
	if (grid == 0)
		grid = 1;
	CU_CHECK(env, api.cuEventRecord(s.start, nullptr), "cuEventRecord");
	CU_CHECK(env, api.cuLaunchKernel(f, (unsigned)grid, 1, 1, block, 1, 1, 0, nullptr, params, nullptr),
		 "cuLaunchKernel", {{"grid", grid}, {"block", block}});
	CU_CHECK(env, api.cuEventRecord(s.stop, nullptr), "cuEventRecord");
	// A fault in the kernel surfaces here (CUDA_ERROR_ILLEGAL_ADDRESS, ...).
	CUresult r = api.cuEventSynchronize(s.stop);
	if (r != CUDA_SUCCESS)
		ThrowCuda(env, r, name);
	CU_CHECK(env, api.cuEventElapsedTime(&ms, s.start, s.stop), "cuEventElapsedTime");
	return ms;
}

// A device word for a kernel's result, zeroed, freed when done.
struct ResultWord {
	Napi::Env env;
	CUdeviceptr d = 0;

	explicit ResultWord(Napi::Env e) : env(e)
	{
		CU_CHECK(env, api.cuMemAlloc(&d, 8), "cuMemAlloc_v2", {{"length", 8}});
		CUresult r = api.cuMemsetD8(d, 0, 8);
		if (r != CUDA_SUCCESS) {
			api.cuMemFree(d);
			ThrowCuda(env, r, "cuMemsetD8_v2");
		}
	}
	~ResultWord()
	{
		api.cuMemFree(d);
	}
	uint64_t Read()
	{
		uint64_t v = 0;

		CU_CHECK(env, api.cuMemcpyDtoH(&v, d, 8), "cuMemcpyDtoH_v2");
		return v;
	}
};

// cudaGpuRead(ptr, length) -> { data: Uint8Array, gpuMs }: the GPU copies the
// range into device memory (ml_copy), and the bytes it read come back.
Napi::Value CudaGpuRead(const Napi::CallbackInfo &info)
{
	Napi::Env env = info.Env();
	uint64_t src = ArgU64(info, 0, "ptr");
	uint64_t len = ArgU64(info, 1, "length");
	CUdeviceptr dst = 0;

	CheckWords(env, "cudaGpuRead", src, len);
	NeedOpen(env);
	CU_CHECK(env, api.cuMemAlloc(&dst, len), "cuMemAlloc_v2", {{"length", len}});
	Napi::Uint8Array data;
	double ms;
	try {
		uint64_t words = len / 8;
		void *params[] = {&dst, &src, &words};

		ms = Launch(env, s.copy, "ml_copy", params, words, UINT64_MAX);
		data = Napi::Uint8Array::New(env, len);
		CU_CHECK(env, api.cuMemcpyDtoH(data.Data(), dst, len), "cuMemcpyDtoH_v2", {{"length", len}});
	} catch (...) {
		api.cuMemFree(dst);
		throw;
	}
	api.cuMemFree(dst);
	Napi::Object o = Napi::Object::New(env);
	o.Set("data", data);
	o.Set("gpuMs", ms);
	return o;
}

// cudaGpuWrite(ptr, length, pattern) -> gpuMs: the GPU writes
// word i = pattern + i (mod 2^64) over the range.
Napi::Value CudaGpuWrite(const Napi::CallbackInfo &info)
{
	Napi::Env env = info.Env();
	uint64_t dst = ArgU64(info, 0, "ptr");
	uint64_t len = ArgU64(info, 1, "length");
	uint64_t pattern = ArgU64(info, 2, "pattern");

	CheckWords(env, "cudaGpuWrite", dst, len);
	NeedOpen(env);
	uint64_t words = len / 8;
	void *params[] = {&dst, &words, &pattern};
	return Napi::Number::New(env, Launch(env, s.fill, "ml_fill", params, words, UINT64_MAX));
}

// cudaGpuXor(ptr, length) -> { xor, gpuMs }: the GPU reads every word (read
// bandwidth); xor of all words, so the caller can check what was read.
Napi::Value CudaGpuXor(const Napi::CallbackInfo &info)
{
	Napi::Env env = info.Env();
	uint64_t src = ArgU64(info, 0, "ptr");
	uint64_t len = ArgU64(info, 1, "length");

	CheckWords(env, "cudaGpuXor", src, len);
	NeedOpen(env);
	ResultWord out(env);
	uint64_t words = len / 8;
	void *params[] = {&src, &words, &out.d};
	double ms = Launch(env, s.xorRead, "ml_xor", params, words, UINT64_MAX, true);
	Napi::Object o = Napi::Object::New(env);
	o.Set("xor", Napi::BigInt::New(env, out.Read()));
	o.Set("gpuMs", ms);
	return o;
}

// cudaGpuTouch(ptr, pages, stride, threads) -> { sum, gpuMs }: one byte read
// per page (first-touch faults), by at most `threads` GPU threads.
Napi::Value CudaGpuTouch(const Napi::CallbackInfo &info)
{
	Napi::Env env = info.Env();
	uint64_t src = ArgU64(info, 0, "ptr");
	uint64_t pages = ArgU64(info, 1, "pages");
	uint64_t stride = ArgU64(info, 2, "stride");
	uint64_t threads = ArgU64(info, 3, "threads");

	if (pages == 0 || stride == 0 || threads == 0)
		ThrowCode(env, "ERR_OUT_OF_RANGE", "cudaGpuTouch: pages, stride and threads must be positive", true);
	if (pages > UINT64_MAX / stride || src + pages * stride < src)
		ThrowCode(env, "ERR_OUT_OF_RANGE", "cudaGpuTouch: range wraps around", true);
	NeedOpen(env);
	ResultWord out(env);
	void *params[] = {&src, &pages, &stride, &out.d};
	double ms = Launch(env, s.touch, "ml_touch", params, pages, threads);
	Napi::Object o = Napi::Object::New(env);
	o.Set("sum", Napi::BigInt::New(env, out.Read()));
	o.Set("gpuMs", ms);
	return o;
}

// cudaGpuCopy(dst, src, length) -> gpuMs
Napi::Value CudaGpuCopy(const Napi::CallbackInfo &info)
{
	Napi::Env env = info.Env();
	uint64_t dst = ArgU64(info, 0, "dst");
	uint64_t src = ArgU64(info, 1, "src");
	uint64_t len = ArgU64(info, 2, "length");

	CheckWords(env, "cudaGpuCopy", src, len);
	CheckWords(env, "cudaGpuCopy", dst, len);
	NeedOpen(env);
	uint64_t words = len / 8;
	void *params[] = {&dst, &src, &words};
	return Napi::Number::New(env, Launch(env, s.copy, "ml_copy", params, words, UINT64_MAX));
}

// cudaPtx() -> the kernels' PTX source, for tests that assemble it offline.
Napi::Value CudaPtx(const Napi::CallbackInfo &info)
{
	return Napi::String::New(info.Env(), kPtx);
}

} // namespace

void InitCuda(Napi::Env env, Napi::Object exports)
{
	exports.Set("cudaLoad", Napi::Function::New(env, CudaLoad, "cudaLoad"));
	exports.Set("cudaDriverVersion", Napi::Function::New(env, CudaDriverVersion, "cudaDriverVersion"));
	exports.Set("cudaDeviceCount", Napi::Function::New(env, CudaDeviceCount, "cudaDeviceCount"));
	exports.Set("cudaDevice", Napi::Function::New(env, CudaDevice, "cudaDevice"));
	exports.Set("cudaOpen", Napi::Function::New(env, CudaOpen, "cudaOpen"));
	exports.Set("cudaClose", Napi::Function::New(env, CudaClose, "cudaClose"));
	exports.Set("cudaMemInfo", Napi::Function::New(env, CudaMemInfo, "cudaMemInfo"));
	exports.Set("cudaHostRegister", Napi::Function::New(env, CudaHostRegister, "cudaHostRegister"));
	exports.Set("cudaHostUnregister", Napi::Function::New(env, CudaHostUnregister, "cudaHostUnregister"));
	exports.Set("cudaHostDevicePointer", Napi::Function::New(env, CudaHostDevicePointer, "cudaHostDevicePointer"));
	exports.Set("cudaMemAlloc", Napi::Function::New(env, CudaMemAlloc, "cudaMemAlloc"));
	exports.Set("cudaMemFree", Napi::Function::New(env, CudaMemFree, "cudaMemFree"));
	exports.Set("cudaPrefetch", Napi::Function::New(env, CudaPrefetch, "cudaPrefetch"));
	exports.Set("cudaMemset", Napi::Function::New(env, CudaMemset, "cudaMemset"));
	exports.Set("cudaGpuRead", Napi::Function::New(env, CudaGpuRead, "cudaGpuRead"));
	exports.Set("cudaGpuWrite", Napi::Function::New(env, CudaGpuWrite, "cudaGpuWrite"));
	exports.Set("cudaGpuXor", Napi::Function::New(env, CudaGpuXor, "cudaGpuXor"));
	exports.Set("cudaGpuTouch", Napi::Function::New(env, CudaGpuTouch, "cudaGpuTouch"));
	exports.Set("cudaGpuCopy", Napi::Function::New(env, CudaGpuCopy, "cudaGpuCopy"));
	exports.Set("cudaPtx", Napi::Function::New(env, CudaPtx, "cudaPtx"));
	Napi::Object c = Napi::Object::New(env);
	c.Set("CU_MEMHOSTREGISTER_PORTABLE", 0x1);
	c.Set("CU_MEMHOSTREGISTER_DEVICEMAP", 0x2);
	c.Set("CU_MEMHOSTREGISTER_IOMEMORY", 0x4);
	c.Set("CU_MEMHOSTREGISTER_READ_ONLY", 0x8);
	exports.Set("cudaConstants", c);
}
