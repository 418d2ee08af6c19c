import react from "@vitejs/plugin-react";
import { defaultClientConditions, defineConfig } from "vite";
import { env } from "./env.js";

export default defineConfig({
  // The auth server serves the build at /console/ (CONSOLE_DIR); the dev server uses the same path.
  base: "/console/",
  plugins: [react()],
  resolve: {
    // Workspace packages (@warden/client's browser entry, the zod-free parts of the contracts) from
    // their sources, their `development` export, in every mode: a production build must not need
    // their dist/. Only the workspace's own packages have that condition.
    conditions: ["development", ...defaultClientConditions],
  },
  server: {
    host: "127.0.0.1",
    // Cookie mode needs the SameSite=Strict refresh cookie: same origin, so proxy the API.
    proxy: { "/trpc": { target: env.WARDEN_URL } },
  },
  build: { outDir: "dist", emptyOutDir: true, sourcemap: true },
});
