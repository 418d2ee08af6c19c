import { defineConfig } from "tsup";

export default defineConfig({
  entry: { index: "src/index.ts", node: "src/node.ts" },
  format: ["esm"],
  target: "es2022",
  platform: "neutral",
  dts: true,
  clean: true,
  sourcemap: true,
  removeNodeProtocol: false,
  // Runtime dependencies stay imports; workspace packages are used for their types only, except
  // the zod-free `@warden/contracts/headers`, which is inlined.
  external: ["@trpc/client", "@trpc/server", "proper-lockfile", /^node:/],
});
