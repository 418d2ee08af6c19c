import { defineProject } from "vitest/config";

// The browser test builds the console, starts the system and drives Chromium: give it room.
export default defineProject({ test: { name: "console", testTimeout: 90_000, hookTimeout: 120_000 } });
