import { pathToFileURL } from "node:url";
import pino from "pino";
import pretty from "pino-pretty";
import { startAdminWorker, workerOptionsFromEnv } from "@warden/worker";
import { describeRedisTarget, redisTargetOf } from "@warden/contracts";
import { loadEnv } from "./env.js";

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const env = loadEnv();
  // LOG_FORMAT=pretty (`pnpm start` on a terminal): readable lines, named for the worker.
  const logger =
    env.LOG_FORMAT === "pretty"
      ? pino(
          { level: env.LOG_LEVEL, base: {}, msgPrefix: "[worker] " },
          pretty({ ignore: "pid,hostname", translateTime: "SYS:HH:MM:ss", singleLine: true }),
        )
      : pino({ level: env.LOG_LEVEL, base: { app: "admin-worker" } });
  startAdminWorker(workerOptionsFromEnv(env, logger)).then(
    (worker) => {
      logger.info({ redis: describeRedisTarget(redisTargetOf(env)) }, "admin worker running");
      const stop = (signal: string) => {
        logger.info({ signal }, "admin worker shutting down");
        worker.close().then(
          () => process.exit(0),
          () => process.exit(1),
        );
      };
      process.once("SIGTERM", () => stop("SIGTERM"));
      process.once("SIGINT", () => stop("SIGINT"));
    },
    (error: Error) => {
      process.stderr.write(`warden-worker: could not start: ${error.message}\n`);
      process.exit(1);
    },
  );
}
