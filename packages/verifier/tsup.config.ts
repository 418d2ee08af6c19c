import { defineConfig } from "tsup";

/**
 * The workspace packages the verifier shares with the server are not published: their code and
 * their declarations go into the build, so the package installs and type-checks on its own.
 * (Mapped to their sources, the TypeScript bundler inlines them instead of importing them.)
 */
const WORKSPACE_SOURCES = {
  "@warden/access-token": ["../access-token/src/index.ts"],
  "@warden/contracts": ["../contracts/src/index.ts"],
  "@warden/revocations": ["../revocations/src/index.ts"],
};

export default defineConfig({
  entry: { index: "src/index.ts" },
  format: ["esm"],
  target: "es2022",
  platform: "node",
  noExternal: [/^@warden\//],
  dts: { compilerOptions: { baseUrl: ".", paths: WORKSPACE_SOURCES } },
  clean: true,
  sourcemap: true,
  removeNodeProtocol: false,
  // Workspace packages are bundled from their sources (their `development` export): their dist/
  // need not exist, and this build never depends on another package's build.
  esbuildOptions(options) {
    options.conditions = ["development"];
  },
});
