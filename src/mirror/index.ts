// Device mirrors of user buffers: one interface (types.ts), the mirrordrm
// backend (mockdrm.ts) and an invalidation tracker for assertions.
export * from './types.js';
export * from './decode.js';
export * from './mockdrm.js';
export * from './tracker.js';
