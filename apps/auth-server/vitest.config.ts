import { defineProject } from "vitest/config";

// Generous limits: these tests share two cores with other suites, and must not fail for being slow
// (speed is measured by `pnpm bench`, not by tests).
export default defineProject({ test: { name: "auth-server", testTimeout: 60_000, hookTimeout: 120_000 } });
