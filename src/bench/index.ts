export * from './reference.js';
export * from './host-faults.js';
export * from './suite.js';
export * from './runner.js';
export * from './suites.js';
export { benchCommand, compareCommand } from './cli.js';
export * from './runs.js';
