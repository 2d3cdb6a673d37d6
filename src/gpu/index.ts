// Real GPUs: NVIDIA through the CUDA driver API (cuda/), and the DRM drivers' userptr interfaces (drm/).
export * from './cuda/index.js';
export * from './drm/index.js';
