// One auth-server instance exactly as production starts it (startAuthServer), configured by env.
import { loadEnv } from "@warden/contracts/env";
import { serverEnvSchema, startAuthServer } from "@warden/server";

const server = await startAuthServer(loadEnv(serverEnvSchema, "warden"));
process.stdout.write(`READY ${JSON.stringify({ url: server.url })}\n`);
const stop = () =>
  server.close().then(
    () => process.exit(0),
    () => process.exit(1),
  );
process.once("SIGTERM", stop);
process.once("SIGINT", stop);
