export * from "./users.js";
export * from "./sessions.js";
export * from "./revocations.js";
export * from "./webhooks.js";
