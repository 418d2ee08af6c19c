import { defineProject } from "vitest/config";

// Each test spawns the CLI as a process (a second or so each on a busy machine).
export default defineProject({ test: { name: "admin-cli", testTimeout: 60_000 } });
