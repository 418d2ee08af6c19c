import { once } from "node:events";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import type { Registry } from "prom-client";
import { metricsAnswer } from "./access.js";

export interface MetricsServerOptions {
  registry: Registry;
  port: number;
  host: string;
  /** METRICS_TOKEN: when set, scrapes need `Authorization: Bearer <token>`. */
  token?: string | undefined;
}

export interface MetricsServer {
  /** e.g. `http://127.0.0.1:9464/metrics` */
  url: string;
  close(): Promise<void>;
}

/** `GET /metrics` on a port of its own, for a process that has no HTTP server (the admin worker). */
export async function serveMetrics(options: MetricsServerOptions): Promise<MetricsServer> {
  const server = createServer((req, res) => {
    const path = (req.url ?? "").split("?")[0];
    if (path !== "/metrics") {
      res.writeHead(404, { "content-type": "text/plain; charset=utf-8" }).end("not found: try /metrics\n");
      return;
    }
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { allow: "GET, HEAD" }).end();
      return;
    }
    metricsAnswer(options.registry, req.headers.authorization, options.token).then(
      (answer) => res.writeHead(answer.status, { "content-type": answer.contentType, ...answer.headers }).end(answer.body),
      () => res.writeHead(500, { "content-type": "text/plain; charset=utf-8" }).end("metrics could not be collected\n"),
    );
  });
  server.keepAliveTimeout = 5_000;
  server.listen(options.port, options.host);
  await once(server, "listening");
  const { address, port } = server.address() as AddressInfo;
  const host = address.includes(":") ? `[${address}]` : address;
  return {
    url: `http://${host}:${port}/metrics`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
