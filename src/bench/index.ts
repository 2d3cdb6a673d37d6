export * from './reference.js';
export * from './host-faults.js';
