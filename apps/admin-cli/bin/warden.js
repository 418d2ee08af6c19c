#!/usr/bin/env node
// Runs the TypeScript sources with tsx; the `development` condition resolves workspace packages to src.
import { spawnSync } from "node:child_process";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

const require = createRequire(import.meta.url);
const main = fileURLToPath(new URL("../src/main.ts", import.meta.url));
const tsx = require.resolve("tsx/cli");
const result = spawnSync(process.execPath, [tsx, "--conditions=development", main, ...process.argv.slice(2)], {
  stdio: "inherit",
});
process.exit(result.status ?? 1);
