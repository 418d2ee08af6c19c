// One flat config for the whole monorepo; each package's `lint` script runs ESLint on its own
// folders and finds this file. Type-aware rules use each package's tsconfig (project service).
import js from "@eslint/js";
import reactHooks from "eslint-plugin-react-hooks";
import tseslint from "typescript-eslint";

const APPS = ["@warden/auth-server", "@warden/admin-worker", "@warden/admin-cli", "@warden/console"];

/** Packages never import apps (test helpers included): dependencies point one way. */
const noAppImports = {
  patterns: [
    {
      group: [...APPS, ...APPS.map((app) => `${app}/*`)],
      message: "packages never import apps; move the shared code into a package",
    },
    { group: ["**/apps/**"], message: "packages never import apps; move the shared code into a package" },
  ],
};

/** The browser/worker client ships no server code: only type imports of server packages. */
const SERVER_PACKAGES = ["@warden/api", "@warden/auth", "@warden/db", "@warden/api/*", "@warden/auth/*", "@warden/db/*"];

export default tseslint.config(
  {
    ignores: [
      "**/node_modules/**",
      "**/dist/**",
      "**/.turbo/**",
      "**/.warden/**",
      "**/test-artifacts/**",
      "bench/results/**",
      // A project outside the monorepo that test/tarball.test.ts installs the packed client into.
      "packages/client/test/consumer/**",
      // Tool configuration outside every tsconfig: nothing of the product runs it.
      "**/vitest.config.ts",
      "**/tsup.config.ts",
      "**/drizzle.config.ts",
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ["**/*.ts", "**/*.tsx"],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      "@typescript-eslint/consistent-type-imports": ["error", { fixStyle: "inline-type-imports" }],
      "@typescript-eslint/no-floating-promises": "error",
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_", caughtErrors: "none" }],
      // Configuration is parsed once per process, in its env module (t3's restrictEnvAccess).
      "no-restricted-properties": [
        "error",
        {
          object: "process",
          property: "env",
          message: "read configuration in the process's env module (env.ts), parsed with zod",
        },
      ],
      "no-control-regex": "off",
      // A callback may read a variable assigned once, later in setup (late-bound references).
      "prefer-const": ["error", { ignoreReadBeforeAssign: true }],
    },
  },
  {
    // Env modules read the environment; tests, test harnesses, the bench and dev orchestration
    // set it up for the processes they start.
    files: [
      "**/env.ts",
      "**/*.test.ts",
      "**/test/**",
      "**/testing.ts",
      "**/testing/**",
      "bench/**",
      "**/vite.config.ts",
      "**/vitest.config.ts",
    ],
    rules: { "no-restricted-properties": "off", "@typescript-eslint/no-explicit-any": "off" },
  },
  {
    files: ["apps/console/src/**/*.tsx"],
    plugins: { "react-hooks": reactHooks },
    rules: reactHooks.configs.recommended.rules,
  },
  {
    files: ["packages/**"],
    rules: { "no-restricted-imports": ["error", noAppImports] },
  },
  {
    files: ["packages/client/src/**"],
    ignores: ["packages/client/src/**/*.test.ts", "packages/client/src/testing/**"],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          patterns: [
            ...noAppImports.patterns,
            { group: SERVER_PACKAGES, allowTypeImports: true, message: "@warden/client imports server packages as types only" },
          ],
        },
      ],
    },
  },
  {
    files: ["**/*.js", "**/*.mjs", "**/*.cjs"],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: { globals: { process: "readonly", URL: "readonly", console: "readonly" } },
  },
);
