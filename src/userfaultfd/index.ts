// userfaultfd sessions, accessors that fault from other threads, and the
// native vs JavaScript fault round-trip measurement.
export * from './constants.js';
export * from './access.js';
export * from './userfaultfd.js';
export * from './roundtrip.js';
