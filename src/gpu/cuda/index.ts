export * from './device.js';
export * from './scenarios.js';
