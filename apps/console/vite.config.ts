import { fileURLToPath } from "node:url";
import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";
import { env } from "./env.js";

export default defineConfig({
  // The auth server serves the build at /console/ (CONSOLE_DIR); the dev server uses the same path.
  base: "/console/",
  plugins: [react()],
  resolve: {
    // The browser entry of the client, from source (no build step for workspace packages).
    alias: { "@warden/client": fileURLToPath(new URL("../../packages/client/src/index.ts", import.meta.url)) },
  },
  server: {
    host: "127.0.0.1",
    // Cookie mode needs the SameSite=Strict refresh cookie: same origin, so proxy the API.
    proxy: { "/trpc": { target: env.WARDEN_URL } },
  },
  build: { outDir: "dist", emptyOutDir: true, sourcemap: true },
});
