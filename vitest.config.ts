import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    projects: ["packages/*", "apps/*"],
    globalSetup: ["./test/global-setup.ts"],
    pool: "forks",
    reporters: ["default"],
  },
});
