import { defineProject } from "vitest/config";

// Each test spawns the CLI as a process (a second or more each on a busy machine); the setup
// starts the auth server and an admin worker.
export default defineProject({ test: { name: "admin-cli", testTimeout: 90_000, hookTimeout: 120_000 } });
