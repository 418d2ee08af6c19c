import { defineProject } from "vitest/config";

// Real servers and child processes: allow for a loaded machine (timeouts are not assertions).
export default defineProject({ test: { name: "client", testTimeout: 60_000, hookTimeout: 60_000 } });
