// Device memory: the fakevram driver (guests only) and what the guest tests run with it.
export * from './fakevram.js';
