export * from "./repeat.js";
