export * from './timing.js';
export * from './reference.js';
