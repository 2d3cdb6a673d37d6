// The mirrordrm scenarios the guest tests run (test/guest/mirrordrm.test.ts),
// one module for Vm.call: guest.vm.call(mirrordrmScenarios, 'munmapPartial', mode).
export * from './invalidation.js';
export * from './uffd.js';
export * from './numa.js';
export * from './fork.js';
export * from './files.js';
export * from './reclaim-writeback.js';
export * from './races.js';
export * from './twopass.js';
export * from './svm.js';
export { kernelRelease, installFile, khugepagedScanSleep } from '../system.js';
export type { Backing } from '../common.js';
