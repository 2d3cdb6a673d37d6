// QEMU guest runner: Debian kernels from the cache, initramfs, host<->guest RPC, crash detection.
export { Vm, ConsoleLog, guestLayout, icountArgs, GuestClockError, GUEST_CLOCKS, ICOUNT_BOOT_TIMEOUT_MS } from './vm.js';
export type { VmOptions, ExecOptions, ExecResult, LogLine, Accel, GuestClock } from './vm.js';
export { VmCrashError, VmTimeoutError, VmExitError, CRASH_PATTERNS, matchCrash } from './crash.js';
export { KERNEL_SERIES, DEFAULT_KERNELS, kernelSeries, kernelInfo, kernelConfig, guestUnavailableReason, cacheRoot } from './kernels.js';
export type { KernelInfo, KernelSeries } from './kernels.js';
export { ensureInitramfs } from './initramfs.js';
export { encode, decode } from './codec.js';
export type { Delivered } from './codec.js';
export { guestModule } from './guest-module.js';
export type { GuestModule, GuestFunctions, GuestArgs, GuestResult } from './guest-module.js';
