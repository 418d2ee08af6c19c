// The auth server's process: configuration from the environment, then @warden/server.
import { closeOnSignals, startAuthServer } from "@warden/server";
import { loadEnv } from "./env.js";

startAuthServer(loadEnv()).then(
  (server) => closeOnSignals(server.close),
  (error: Error) => {
    process.stderr.write(`warden: could not start: ${error.message}\n`);
    process.exit(1);
  },
);
