// xe: user memory reaches an Intel Xe GPU through its VMs, not through GEM
// objects (include/uapi/drm/xe_drm.h). Two ways, both through
// DRM_IOCTL_XE_VM_BIND:
//  - DRM_XE_VM_BIND_OP_MAP_USERPTR binds a CPU range at a GPU address of a VM;
//    the driver holds an mmu_interval_notifier on it and repins (GUP, or
//    hmm_range_fault since 6.10) when it is invalidated.
//  - DRM_XE_VM_BIND_FLAG_CPU_ADDR_MIRROR (6.15) on a DRM_XE_VM_BIND_OP_MAP
//    reserves a GPU range that mirrors the CPU's page tables one to one: no
//    pages are touched at bind, the GPU faults them in through drm_gpusvm
//    (HMM). Only on a VM created with DRM_XE_VM_CREATE_FLAG_FAULT_MODE, which
//    itself needs DRM_XE_VM_CREATE_FLAG_LR_MODE and a GPU that can fault
//    (DRM_XE_QUERY_CONFIG_FLAG_HAS_CPU_ADDR_MIRROR says whether it can).
// The binds are issued on the VM's default bind queue (exec_queue_id 0) with
// no syncs; the time returned is the ioctl's.
//
// What is not here: an exec queue, a batch and DRM_IOCTL_XE_EXEC with a user
// fence, which is what would make the GPU read the range. The batch depends
// on the platform and no Xe GPU was available to run it; registration cost,
// invalidation cost and the errors are reported instead.
#include "addon.h"
#include "drm_hw.h"

#include <cerrno>
#include <vector>

namespace {

// include/uapi/drm/xe_drm.h
struct drm_xe_vm_create_abi {
	__u64 extensions;
	__u32 flags;	// DRM_XE_VM_CREATE_FLAG_*
	__u32 vm_id;	// out
	__u64 reserved[2];
};
static_assert(sizeof(struct drm_xe_vm_create_abi) == 32, "drm_xe_vm_create");

struct drm_xe_vm_destroy_abi {
	__u32 vm_id;
	__u32 pad;
	__u64 reserved[2];
};
static_assert(sizeof(struct drm_xe_vm_destroy_abi) == 24, "drm_xe_vm_destroy");

struct drm_xe_vm_bind_op_abi {
	__u64 extensions;
	__u32 obj;		// GEM handle; MBZ for userptr and the CPU address mirror
	__u16 pat_index;	// platform PAT entry; at least 1-way coherent for userptr
	__u16 pad;
	union {
		__u64 obj_offset;
		__u64 userptr;			// MAP_USERPTR: the CPU address
		__s64 cpu_addr_mirror_offset;	// 6.15; MBZ (one-to-one mirror only)
	};
	__u64 range;
	__u64 addr;		// GPU address
	__u32 op;		// DRM_XE_VM_BIND_OP_*
	__u32 flags;		// DRM_XE_VM_BIND_FLAG_*
	__u32 prefetch_mem_region_instance;
	__u32 pad2;
	__u64 reserved[3];
};
static_assert(sizeof(struct drm_xe_vm_bind_op_abi) == 80, "drm_xe_vm_bind_op");

struct drm_xe_vm_bind_abi {
	__u64 extensions;
	__u32 vm_id;
	__u32 exec_queue_id;	// 0: the VM's default bind queue
	__u32 pad;
	__u32 num_binds;
	union {
		struct drm_xe_vm_bind_op_abi bind;	// num_binds == 1
		__u64 vector_of_binds;			// num_binds > 1
	};
	__u32 pad2;
	__u32 num_syncs;
	__u64 syncs;
	__u64 reserved[2];
};
static_assert(sizeof(struct drm_xe_vm_bind_abi) == 136, "drm_xe_vm_bind");

struct drm_xe_device_query_abi {
	__u64 extensions;
	__u32 query;	// DRM_XE_DEVICE_QUERY_*
	__u32 size;	// 0: the driver writes the size it needs
	__u64 data;
	__u64 reserved[2];
};
static_assert(sizeof(struct drm_xe_device_query_abi) == 40, "drm_xe_device_query");

struct drm_xe_query_config_abi {
	__u32 num_params;
	__u32 pad;
	__u64 info[];	// indexed by DRM_XE_QUERY_CONFIG_*
};
static_assert(sizeof(struct drm_xe_query_config_abi) == 8, "drm_xe_query_config");

#define ML_DRM_XE_DEVICE_QUERY 0x00
#define ML_DRM_XE_VM_CREATE 0x03
#define ML_DRM_XE_VM_DESTROY 0x04
#define ML_DRM_XE_VM_BIND 0x05
#define ML_DRM_IOCTL_XE_DEVICE_QUERY ML_DRM_IOWR(ML_DRM_XE_DEVICE_QUERY, struct drm_xe_device_query_abi)
#define ML_DRM_IOCTL_XE_VM_CREATE ML_DRM_IOWR(ML_DRM_XE_VM_CREATE, struct drm_xe_vm_create_abi)
#define ML_DRM_IOCTL_XE_VM_DESTROY ML_DRM_IOW(ML_DRM_XE_VM_DESTROY, struct drm_xe_vm_destroy_abi)
#define ML_DRM_IOCTL_XE_VM_BIND ML_DRM_IOW(ML_DRM_XE_VM_BIND, struct drm_xe_vm_bind_abi)

#define ML_DRM_XE_VM_CREATE_FLAG_SCRATCH_PAGE (1u << 0)
#define ML_DRM_XE_VM_CREATE_FLAG_LR_MODE (1u << 1)
#define ML_DRM_XE_VM_CREATE_FLAG_FAULT_MODE (1u << 2)

#define ML_DRM_XE_VM_BIND_OP_MAP 0x0u
#define ML_DRM_XE_VM_BIND_OP_UNMAP 0x1u
#define ML_DRM_XE_VM_BIND_OP_MAP_USERPTR 0x2u

#define ML_DRM_XE_VM_BIND_FLAG_READONLY (1u << 0)
#define ML_DRM_XE_VM_BIND_FLAG_IMMEDIATE (1u << 1)
#define ML_DRM_XE_VM_BIND_FLAG_CPU_ADDR_MIRROR (1u << 5)

#define ML_DRM_XE_DEVICE_QUERY_CONFIG 2
#define ML_DRM_XE_QUERY_CONFIG_REV_AND_DEVICE_ID 0
#define ML_DRM_XE_QUERY_CONFIG_FLAGS 1
#define ML_DRM_XE_QUERY_CONFIG_FLAG_HAS_VRAM (1u << 0)
#define ML_DRM_XE_QUERY_CONFIG_FLAG_HAS_CPU_ADDR_MIRROR (1u << 2)
#define ML_DRM_XE_QUERY_CONFIG_MIN_ALIGNMENT 2
#define ML_DRM_XE_QUERY_CONFIG_VA_BITS 3

// vmCreate(fd, flags) -> vm_id
Napi::Value VmCreate(const Napi::CallbackInfo &info)
{
	Napi::Env env = info.Env();
	int fd = ArgFd(info, 0, "fd");
	uint32_t flags = ArgU32(info, 1, "flags");
	drm_xe_vm_create_abi c{};

	c.flags = flags;
	if (int err = DrmIoctl(fd, ML_DRM_IOCTL_XE_VM_CREATE, &c))
		ThrowSyscallError(env, err, "ioctl(DRM_IOCTL_XE_VM_CREATE)",
				  {SignedArg("fd", fd), {"flags", flags, true}});
	return Napi::Number::New(env, c.vm_id);
}

// vmDestroy(fd, vmId): unbinds everything the VM holds, notifiers included.
Napi::Value VmDestroy(const Napi::CallbackInfo &info)
{
	Napi::Env env = info.Env();
	int fd = ArgFd(info, 0, "fd");
	uint32_t vm = ArgU32(info, 1, "vmId");
	drm_xe_vm_destroy_abi d{};

	d.vm_id = vm;
	if (int err = DrmIoctl(fd, ML_DRM_IOCTL_XE_VM_DESTROY, &d))
		ThrowSyscallError(env, err, "ioctl(DRM_IOCTL_XE_VM_DESTROY)",
				  {SignedArg("fd", fd), {"vm_id", vm}});
	return env.Undefined();
}

// One bind op, inline in struct drm_xe_vm_bind; returns the ioctl's ns.
double BindOne(Napi::Env env, int fd, uint32_t vm, const drm_xe_vm_bind_op_abi &op)
{
	drm_xe_vm_bind_abi b{};

	b.vm_id = vm;
	b.num_binds = 1;
	b.bind = op;
	uint64_t t0 = MonoNs();
	int err = DrmIoctl(fd, ML_DRM_IOCTL_XE_VM_BIND, &b);
	uint64_t t1 = MonoNs();
	if (err)
		ThrowSyscallError(env, err, "ioctl(DRM_IOCTL_XE_VM_BIND)",
				  {SignedArg("fd", fd), {"vm_id", vm}, {"op", op.op}, {"flags", op.flags, true},
				   {"userptr", op.userptr, true}, {"addr", op.addr, true}, {"range", op.range},
				   {"pat_index", op.pat_index}});
	return (double)(t1 - t0);
}

// bindUserptr(fd, vmId, gpuAddr, userptr, range, flags, patIndex) -> ns
Napi::Value BindUserptr(const Napi::CallbackInfo &info)
{
	Napi::Env env = info.Env();
	int fd = ArgFd(info, 0, "fd");
	uint32_t vm = ArgU32(info, 1, "vmId");
	uint64_t gpu = ArgU64(info, 2, "gpuAddr");
	uint64_t cpu = ArgU64(info, 3, "userptr");
	uint64_t range = ArgU64(info, 4, "range");
	uint32_t flags = ArgU32(info, 5, "flags");
	uint32_t pat = ArgU32(info, 6, "patIndex");
	drm_xe_vm_bind_op_abi op{};

	CheckUserRange(env, "xe.bindUserptr", cpu, range);
	CheckUserRange(env, "xe.bindUserptr (GPU range)", gpu, range);
	if (pat > UINT16_MAX)
		ThrowArgError(env, "ERR_OUT_OF_RANGE", "xe.bindUserptr: patIndex must fit in 16 bits");
	op.op = ML_DRM_XE_VM_BIND_OP_MAP_USERPTR;
	op.flags = flags;
	op.userptr = cpu;
	op.addr = gpu;
	op.range = range;
	op.pat_index = (__u16)pat;
	return Napi::Number::New(env, BindOne(env, fd, vm, op));
}

// bindCpuAddrMirror(fd, vmId, addr, range, flags, patIndex) -> ns: the GPU
// range [addr, addr + range) mirrors the same CPU range; obj and offset MBZ.
// The PAT entry is that of the pages the GPU faults in later (newer kernels
// want it coherent, as for userptr).
Napi::Value BindCpuAddrMirror(const Napi::CallbackInfo &info)
{
	Napi::Env env = info.Env();
	int fd = ArgFd(info, 0, "fd");
	uint32_t vm = ArgU32(info, 1, "vmId");
	uint64_t addr = ArgU64(info, 2, "addr");
	uint64_t range = ArgU64(info, 3, "range");
	uint32_t flags = ArgU32(info, 4, "flags");
	uint32_t pat = ArgU32(info, 5, "patIndex");
	drm_xe_vm_bind_op_abi op{};

	CheckUserRange(env, "xe.bindCpuAddrMirror", addr, range);
	if (pat > UINT16_MAX)
		ThrowArgError(env, "ERR_OUT_OF_RANGE", "xe.bindCpuAddrMirror: patIndex must fit in 16 bits");
	op.op = ML_DRM_XE_VM_BIND_OP_MAP;
	op.flags = flags | ML_DRM_XE_VM_BIND_FLAG_CPU_ADDR_MIRROR;
	op.addr = addr;
	op.range = range;
	op.pat_index = (__u16)pat;
	return Napi::Number::New(env, BindOne(env, fd, vm, op));
}

// unbind(fd, vmId, gpuAddr, range) -> ns
Napi::Value Unbind(const Napi::CallbackInfo &info)
{
	Napi::Env env = info.Env();
	int fd = ArgFd(info, 0, "fd");
	uint32_t vm = ArgU32(info, 1, "vmId");
	uint64_t addr = ArgU64(info, 2, "gpuAddr");
	uint64_t range = ArgU64(info, 3, "range");
	drm_xe_vm_bind_op_abi op{};

	CheckUserRange(env, "xe.unbind", addr, range);
	op.op = ML_DRM_XE_VM_BIND_OP_UNMAP;
	op.addr = addr;
	op.range = range;
	return Napi::Number::New(env, BindOne(env, fd, vm, op));
}

// queryConfig(fd) -> { revAndDeviceId, flags, minAlignment, vaBits } as
// BigInts: DRM_XE_DEVICE_QUERY_CONFIG, first for the size, then the data.
Napi::Value QueryConfig(const Napi::CallbackInfo &info)
{
	Napi::Env env = info.Env();
	int fd = ArgFd(info, 0, "fd");
	drm_xe_device_query_abi q{};

	q.query = ML_DRM_XE_DEVICE_QUERY_CONFIG;
	if (int err = DrmIoctl(fd, ML_DRM_IOCTL_XE_DEVICE_QUERY, &q))
		ThrowSyscallError(env, err, "ioctl(DRM_IOCTL_XE_DEVICE_QUERY)",
				  {SignedArg("fd", fd), {"query", q.query}, {"size", 0}});
	if (q.size < sizeof(drm_xe_query_config_abi))
		ThrowSyscallError(env, EPROTO, "ioctl(DRM_IOCTL_XE_DEVICE_QUERY)",
				  {SignedArg("fd", fd), {"query", q.query}, {"size", q.size}});
	std::vector<__u64> buf((q.size + 7) / 8);
	q.data = (__u64)(uintptr_t)buf.data();
	if (int err = DrmIoctl(fd, ML_DRM_IOCTL_XE_DEVICE_QUERY, &q))
		ThrowSyscallError(env, err, "ioctl(DRM_IOCTL_XE_DEVICE_QUERY)",
				  {SignedArg("fd", fd), {"query", q.query}, {"size", q.size}});
	auto *cfg = (drm_xe_query_config_abi *)buf.data();
	uint32_t n = cfg->num_params;
	// The driver's count, bounded by what it wrote.
	if (n > (q.size - sizeof(*cfg)) / 8)
		n = (uint32_t)((q.size - sizeof(*cfg)) / 8);
	Napi::Object o = Napi::Object::New(env);
	auto get = [&](uint32_t i) -> Napi::Value {
		return i < n ? (Napi::Value)Napi::BigInt::New(env, (uint64_t)cfg->info[i]) : env.Null();
	};
	o.Set("revAndDeviceId", get(ML_DRM_XE_QUERY_CONFIG_REV_AND_DEVICE_ID));
	o.Set("flags", get(ML_DRM_XE_QUERY_CONFIG_FLAGS));
	o.Set("minAlignment", get(ML_DRM_XE_QUERY_CONFIG_MIN_ALIGNMENT));
	o.Set("vaBits", get(ML_DRM_XE_QUERY_CONFIG_VA_BITS));
	return o;
}

Napi::Object Layout(Napi::Env env)
{
	DrmLayoutTable t(env);

	ML_LAYOUT_STRUCT(t, drm_xe_vm_create);
	ML_LAYOUT_FIELD(t, drm_xe_vm_create, extensions);
	ML_LAYOUT_FIELD(t, drm_xe_vm_create, flags);
	ML_LAYOUT_FIELD(t, drm_xe_vm_create, vm_id);
	ML_LAYOUT_FIELD(t, drm_xe_vm_create, reserved);
	ML_LAYOUT_STRUCT(t, drm_xe_vm_destroy);
	ML_LAYOUT_FIELD(t, drm_xe_vm_destroy, vm_id);
	ML_LAYOUT_FIELD(t, drm_xe_vm_destroy, pad);
	ML_LAYOUT_FIELD(t, drm_xe_vm_destroy, reserved);
	ML_LAYOUT_STRUCT(t, drm_xe_vm_bind_op);
	ML_LAYOUT_FIELD(t, drm_xe_vm_bind_op, extensions);
	ML_LAYOUT_FIELD(t, drm_xe_vm_bind_op, obj);
	ML_LAYOUT_FIELD(t, drm_xe_vm_bind_op, pat_index);
	ML_LAYOUT_FIELD(t, drm_xe_vm_bind_op, pad);
	ML_LAYOUT_FIELD(t, drm_xe_vm_bind_op, obj_offset);
	ML_LAYOUT_FIELD(t, drm_xe_vm_bind_op, userptr);
	ML_LAYOUT_FIELD(t, drm_xe_vm_bind_op, cpu_addr_mirror_offset);
	ML_LAYOUT_FIELD(t, drm_xe_vm_bind_op, range);
	ML_LAYOUT_FIELD(t, drm_xe_vm_bind_op, addr);
	ML_LAYOUT_FIELD(t, drm_xe_vm_bind_op, op);
	ML_LAYOUT_FIELD(t, drm_xe_vm_bind_op, flags);
	ML_LAYOUT_FIELD(t, drm_xe_vm_bind_op, prefetch_mem_region_instance);
	ML_LAYOUT_FIELD(t, drm_xe_vm_bind_op, pad2);
	ML_LAYOUT_FIELD(t, drm_xe_vm_bind_op, reserved);
	ML_LAYOUT_STRUCT(t, drm_xe_vm_bind);
	ML_LAYOUT_FIELD(t, drm_xe_vm_bind, extensions);
	ML_LAYOUT_FIELD(t, drm_xe_vm_bind, vm_id);
	ML_LAYOUT_FIELD(t, drm_xe_vm_bind, exec_queue_id);
	ML_LAYOUT_FIELD(t, drm_xe_vm_bind, pad);
	ML_LAYOUT_FIELD(t, drm_xe_vm_bind, num_binds);
	ML_LAYOUT_FIELD(t, drm_xe_vm_bind, bind);
	ML_LAYOUT_FIELD(t, drm_xe_vm_bind, vector_of_binds);
	ML_LAYOUT_FIELD(t, drm_xe_vm_bind, pad2);
	ML_LAYOUT_FIELD(t, drm_xe_vm_bind, num_syncs);
	ML_LAYOUT_FIELD(t, drm_xe_vm_bind, syncs);
	ML_LAYOUT_FIELD(t, drm_xe_vm_bind, reserved);
	ML_LAYOUT_STRUCT(t, drm_xe_device_query);
	ML_LAYOUT_FIELD(t, drm_xe_device_query, extensions);
	ML_LAYOUT_FIELD(t, drm_xe_device_query, query);
	ML_LAYOUT_FIELD(t, drm_xe_device_query, size);
	ML_LAYOUT_FIELD(t, drm_xe_device_query, data);
	ML_LAYOUT_FIELD(t, drm_xe_device_query, reserved);
	// info[] is a flexible array: its offset only (sizeof of it is not C).
	ML_LAYOUT_STRUCT(t, drm_xe_query_config);
	ML_LAYOUT_FIELD(t, drm_xe_query_config, num_params);
	ML_LAYOUT_FIELD(t, drm_xe_query_config, pad);
	t.Field("info", offsetof(struct drm_xe_query_config_abi, info), 0);
	return t.all;
}

} // namespace

void InitXe(Napi::Env env, Napi::Object exports)
{
	Napi::Object m = Napi::Object::New(env);

	m.Set("vmCreate", Napi::Function::New(env, VmCreate, "vmCreate"));
	m.Set("vmDestroy", Napi::Function::New(env, VmDestroy, "vmDestroy"));
	m.Set("bindUserptr", Napi::Function::New(env, BindUserptr, "bindUserptr"));
	m.Set("bindCpuAddrMirror", Napi::Function::New(env, BindCpuAddrMirror, "bindCpuAddrMirror"));
	m.Set("unbind", Napi::Function::New(env, Unbind, "unbind"));
	m.Set("queryConfig", Napi::Function::New(env, QueryConfig, "queryConfig"));
	m.Set("layout", Layout(env));
	exports.Set("xe", m);

	Napi::Object c = Napi::Object::New(env);
#define C(name, v) c.Set(name, Napi::Number::New(env, (double)(v)))
	C("DRM_XE_VM_CREATE_FLAG_SCRATCH_PAGE", ML_DRM_XE_VM_CREATE_FLAG_SCRATCH_PAGE);
	C("DRM_XE_VM_CREATE_FLAG_LR_MODE", ML_DRM_XE_VM_CREATE_FLAG_LR_MODE);
	C("DRM_XE_VM_CREATE_FLAG_FAULT_MODE", ML_DRM_XE_VM_CREATE_FLAG_FAULT_MODE);
	C("DRM_XE_VM_BIND_OP_MAP", ML_DRM_XE_VM_BIND_OP_MAP);
	C("DRM_XE_VM_BIND_OP_UNMAP", ML_DRM_XE_VM_BIND_OP_UNMAP);
	C("DRM_XE_VM_BIND_OP_MAP_USERPTR", ML_DRM_XE_VM_BIND_OP_MAP_USERPTR);
	C("DRM_XE_VM_BIND_FLAG_READONLY", ML_DRM_XE_VM_BIND_FLAG_READONLY);
	C("DRM_XE_VM_BIND_FLAG_IMMEDIATE", ML_DRM_XE_VM_BIND_FLAG_IMMEDIATE);
	C("DRM_XE_VM_BIND_FLAG_CPU_ADDR_MIRROR", ML_DRM_XE_VM_BIND_FLAG_CPU_ADDR_MIRROR);
	C("DRM_XE_DEVICE_QUERY_CONFIG", ML_DRM_XE_DEVICE_QUERY_CONFIG);
	C("DRM_XE_QUERY_CONFIG_REV_AND_DEVICE_ID", ML_DRM_XE_QUERY_CONFIG_REV_AND_DEVICE_ID);
	C("DRM_XE_QUERY_CONFIG_FLAGS", ML_DRM_XE_QUERY_CONFIG_FLAGS);
	C("DRM_XE_QUERY_CONFIG_FLAG_HAS_VRAM", ML_DRM_XE_QUERY_CONFIG_FLAG_HAS_VRAM);
	C("DRM_XE_QUERY_CONFIG_FLAG_HAS_CPU_ADDR_MIRROR", ML_DRM_XE_QUERY_CONFIG_FLAG_HAS_CPU_ADDR_MIRROR);
	C("DRM_XE_QUERY_CONFIG_MIN_ALIGNMENT", ML_DRM_XE_QUERY_CONFIG_MIN_ALIGNMENT);
	C("DRM_XE_QUERY_CONFIG_VA_BITS", ML_DRM_XE_QUERY_CONFIG_VA_BITS);
	C("DRM_XE_DEVICE_QUERY", ML_DRM_XE_DEVICE_QUERY);
	C("DRM_XE_VM_CREATE", ML_DRM_XE_VM_CREATE);
	C("DRM_XE_VM_DESTROY", ML_DRM_XE_VM_DESTROY);
	C("DRM_XE_VM_BIND", ML_DRM_XE_VM_BIND);
	C("DRM_IOCTL_XE_DEVICE_QUERY", ML_DRM_IOCTL_XE_DEVICE_QUERY);
	C("DRM_IOCTL_XE_VM_CREATE", ML_DRM_IOCTL_XE_VM_CREATE);
	C("DRM_IOCTL_XE_VM_DESTROY", ML_DRM_IOCTL_XE_VM_DESTROY);
	C("DRM_IOCTL_XE_VM_BIND", ML_DRM_IOCTL_XE_VM_BIND);
#undef C
	exports.Set("xeConstants", c);
}
