export * from "./repeat.js";
export * from './disturbance.js';
