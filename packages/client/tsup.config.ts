import { defineConfig } from "tsup";
import { PUBLIC_TYPES_FILE } from "./scripts/public-types.js";

export default defineConfig({
  entry: { index: "src/index.ts", node: "src/node.ts" },
  format: ["esm"],
  target: "es2022",
  platform: "neutral",
  dts: {
    // The types the client imports from the workspace (the server's AppRouter, the contracts'
    // types) come from the file scripts/public-types.ts writes out in full (`pnpm build` runs it
    // first): the published declarations import nothing from @warden/* nor from the server.
    compilerOptions: { paths: { "@warden/api": [PUBLIC_TYPES_FILE], "@warden/contracts": [PUBLIC_TYPES_FILE] } },
  },
  clean: true,
  sourcemap: true,
  removeNodeProtocol: false,
  // Workspace packages are bundled from their sources (their `development` export): their dist/
  // need not exist, and this build never depends on another package's build.
  esbuildOptions(options) {
    options.conditions = ["development"];
  },
  // Runtime dependencies stay imports; workspace code the client runs (the zod-free
  // `@warden/contracts/headers`) is inlined: no @warden/* package is published beside it.
  external: ["@trpc/client", "@trpc/server", "proper-lockfile", /^node:/],
  noExternal: [/^@warden\//],
});
