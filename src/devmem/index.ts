// Device memory: the fakevram driver (guests only); its guest-side steps are in src/guest/fakevram.ts.
export * from './fakevram.js';
