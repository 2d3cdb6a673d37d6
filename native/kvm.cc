// KVM: can this machine really run a guest? kvmProbe() opens /dev/kvm, reads
// KVM_GET_API_VERSION, creates a VM and one vCPU and runs a three-byte
// real-mode guest (out to a port, then hlt). A clean KVM_EXIT_IO followed by
// KVM_EXIT_HLT proves that guest code executes; it does not prove that a full
// Linux guest boots (that needs QEMU).
#include "addon.h"
#include "syscall_error.h"

#include <linux/kvm.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <fcntl.h>
#include <unistd.h>
#include <cerrno>
#include <cstring>
#include <string>

namespace {

Napi::Value KvmProbe(const Napi::CallbackInfo &info)
{
	Napi::Env env = info.Env();
	Napi::Object o = Napi::Object::New(env);
	std::string step = "open(/dev/kvm)";
	int kvm = -1, vm = -1, vcpu = -1, err = 0;
	void *mem = MAP_FAILED, *run = MAP_FAILED;
	long run_size = 0;
	struct kvm_sregs sregs;
	struct kvm_regs regs;
	struct kvm_run *r;
	static const unsigned char code[] = {
		0xb0, 0x2a,		// mov al, 42
		0xe6, 0x80,		// out 0x80, al
		0xf4,			// hlt
	};

	kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm < 0)
		goto fail;
	step = "ioctl(KVM_GET_API_VERSION)";
	{
		int api = ioctl(kvm, KVM_GET_API_VERSION, 0);
		if (api < 0)
			goto fail;
		o.Set("apiVersion", Napi::Number::New(env, api));
	}
	step = "ioctl(KVM_CREATE_VM)";
	vm = ioctl(kvm, KVM_CREATE_VM, 0);
	if (vm < 0)
		goto fail;
	o.Set("vmCreated", Napi::Boolean::New(env, true));

	step = "mmap(guest memory)";
	mem = mmap(nullptr, 0x1000, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		goto fail;
	memcpy(mem, code, sizeof(code));
	step = "ioctl(KVM_SET_USER_MEMORY_REGION)";
	{
		struct kvm_userspace_memory_region region;
		memset(&region, 0, sizeof(region));
		region.slot = 0;
		region.guest_phys_addr = 0x1000;
		region.memory_size = 0x1000;
		region.userspace_addr = (uint64_t)mem;
		if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &region) < 0)
			goto fail;
	}
	step = "ioctl(KVM_CREATE_VCPU)";
	vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
	if (vcpu < 0)
		goto fail;
	step = "ioctl(KVM_GET_VCPU_MMAP_SIZE)";
	run_size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (run_size <= 0)
		goto fail;
	step = "mmap(kvm_run)";
	run = mmap(nullptr, run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
	if (run == MAP_FAILED)
		goto fail;
	r = (struct kvm_run *)run;
	step = "ioctl(KVM_GET_SREGS)";
	if (ioctl(vcpu, KVM_GET_SREGS, &sregs) < 0)
		goto fail;
	sregs.cs.base = 0;
	sregs.cs.selector = 0;
	step = "ioctl(KVM_SET_SREGS)";
	if (ioctl(vcpu, KVM_SET_SREGS, &sregs) < 0)
		goto fail;
	memset(&regs, 0, sizeof(regs));
	regs.rip = 0x1000;
	regs.rflags = 0x2;
	step = "ioctl(KVM_SET_REGS)";
	if (ioctl(vcpu, KVM_SET_REGS, &regs) < 0)
		goto fail;
	{
		std::string exits;
		bool saw_io = false, halted = false;
		for (int i = 0; i < 4 && !halted; i++) {
			step = "ioctl(KVM_RUN)";
			if (ioctl(vcpu, KVM_RUN, 0) < 0)
				goto fail;
			if (!exits.empty())
				exits += ",";
			switch (r->exit_reason) {
			case KVM_EXIT_IO:
				exits += "IO";
				if (r->io.port == 0x80 && r->io.direction == KVM_EXIT_IO_OUT &&
				    *((unsigned char *)r + r->io.data_offset) == 42)
					saw_io = true;
				break;
			case KVM_EXIT_HLT:
				exits += "HLT";
				halted = true;
				break;
			default:
				exits += "exit_reason=" + std::to_string(r->exit_reason);
				i = 4;
				break;
			}
		}
		o.Set("exits", Napi::String::New(env, exits));
		o.Set("guestRan", Napi::Boolean::New(env, saw_io && halted));
	}
	step = "";
	goto out;
fail:
	err = errno;
	{
		Napi::Error e = SyscallError(env, err, step.c_str());
		o.Set("failedAt", Napi::String::New(env, step));
		o.Set("code", e.Value().Get("code"));
		o.Set("errno", Napi::Number::New(env, -err));
	}
out:
	if (run != MAP_FAILED)
		munmap(run, run_size);
	if (vcpu >= 0)
		close(vcpu);
	if (mem != MAP_FAILED)
		munmap(mem, 0x1000);
	if (vm >= 0)
		close(vm);
	if (kvm >= 0)
		close(kvm);
	return o;
}

} // namespace

void InitKvm(Napi::Env env, Napi::Object exports)
{
	exports.Set("kvmProbe", Napi::Function::New(env, KvmProbe, "kvmProbe"));
}
