// The DRM drivers' own userptr and SVM interfaces on real GPUs: amdgpu, i915,
// xe and nouveau, chosen by the driver name of a render node
// (docs/drm-hardware.md says what each does and what ran on hardware).
export * from './common.js';
export * from './amdgpu.js';
export * from './i915.js';
export * from './xe.js';
export * from './nouveau.js';
export * from './nodes.js';
export * from './invalidation.js';
