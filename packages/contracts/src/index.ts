export * from "./errors.js";
export * from "./inputs.js";
export * from "./outputs.js";
export * from "./events.js";
export * from "./durations.js";
export * from "./data-key.js";
export * from "./headers.js";
export * from "./redis-target.js";
