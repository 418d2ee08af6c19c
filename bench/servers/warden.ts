// One auth-server instance exactly as production starts it (startAuthServer), configured by env.
import { loadEnv, startAuthServer } from "@warden/auth-server";

const server = await startAuthServer(loadEnv());
process.stdout.write(`READY ${JSON.stringify({ url: server.url })}\n`);
const stop = () =>
  server.close().then(
    () => process.exit(0),
    () => process.exit(1),
  );
process.once("SIGTERM", stop);
process.once("SIGINT", stop);
