/**
 * The console's dev-server settings (the build itself reads no environment). The only place the
 * console's tooling reads `process.env`.
 */
export const env = {
  /** Where the Vite dev server proxies /trpc, so the console and the API share one origin. */
  WARDEN_URL: process.env.WARDEN_URL ?? "http://127.0.0.1:3000",
};
