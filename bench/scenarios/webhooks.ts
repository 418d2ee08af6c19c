// Scenario 8: webhook delay, from an admin's revocation returning to its signed session.revoked webhook arriving.
import { createHmac, timingSafeEqual } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import type { BenchContext } from "../lib/context.js";
import { ADMIN, serverEnv, startAuthServer } from "../lib/infra.js";
import { CPU, startChild } from "../lib/proc.js";
import { fmt, type Scenario } from "../lib/report.js";
import { curveOf, percentile } from "../lib/stats.js";

const REVOCATIONS = () => (process.env.BENCH_QUICK === "1" ? 50 : 200);
const GIVE_UP_MS = 10_000;

async function call(url: string, token: string | undefined, body: unknown) {
  const res = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(body),
  });
  const json = (await res.json()) as { result?: { data: any } };
  if (res.status !== 200 || !json.result) throw new Error(`${url}: ${res.status} ${JSON.stringify(json)}`);
  return json.result.data;
}

/** A receiver on loopback: when each event's webhook arrived, and whether its Standard Webhooks signature checks out. */
async function startReceiver() {
  const arrivals = new Map<string, number>();
  const waiting = new Map<string, () => void>();
  let secret = Buffer.alloc(0);
  let badSignatures = 0;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const at = performance.now();
      const body = Buffer.concat(chunks).toString();
      const signed = `${String(req.headers["webhook-id"])}.${String(req.headers["webhook-timestamp"])}.${body}`;
      const expected = Buffer.from(`v1,${createHmac("sha256", secret).update(signed).digest("base64")}`);
      const given = Buffer.from(String(req.headers["webhook-signature"]));
      if (expected.length !== given.length || !timingSafeEqual(expected, given)) badSignatures++;
      const eventId = (JSON.parse(body) as { data: { eventId: string } }).data.eventId;
      arrivals.set(eventId, at);
      waiting.get(eventId)?.();
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`,
    setSecret: (text: string) => void (secret = Buffer.from(text.slice("whsec_".length), "base64")),
    badSignatures: () => badSignatures,
    arrival(eventId: string): Promise<number | undefined> {
      const at = arrivals.get(eventId);
      if (at !== undefined) return Promise.resolve(at);
      return new Promise((resolve) => {
        const timer = setTimeout(() => resolve(undefined), GIVE_UP_MS);
        waiting.set(eventId, () => {
          clearTimeout(timer);
          resolve(arrivals.get(eventId));
        });
      });
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

export async function webhookDelay(ctx: BenchContext): Promise<Scenario> {
  const count = REVOCATIONS();
  ctx.log(`8. webhooks: ${count} admin.revokeSession calls, each until its session.revoked webhook arrives`);
  // Its own server and worker: the receiver is on loopback, which only WEBHOOKS_ALLOW_LOCAL allows.
  const env = { ...serverEnv(ctx.databaseUrl, ctx.prefix, ctx.keys), WEBHOOKS_ALLOW_LOCAL: "true" };
  const server = await startAuthServer(env, { cpu: CPU.server });
  const worker = await startChild("servers/worker.ts", { env, cpu: CPU.load });
  const receiver = await startReceiver();
  const rows: Scenario["rows"] = [];
  let curve: Array<[number, number]> | undefined;
  try {
    const url = server.ready.url as string;
    const admin = await call(`${url}/trpc/auth.login`, undefined, ADMIN);
    const created = await call(`${url}/trpc/admin.webhooks.create`, admin.accessToken, {
      url: receiver.url,
      events: ["session.revoked"],
    });
    receiver.setSecret(created.secret as string);
    const sessions = await ctx.seeder.sessions(count);
    const delays: number[] = [];
    let lost = 0;
    for (const s of sessions) {
      const { eventId } = await call(`${url}/trpc/admin.revokeSession`, admin.accessToken, {
        sessionId: s.sessionId,
        reason: "bench webhook",
      });
      const returned = performance.now();
      const arrived = await receiver.arrival(eventId as string);
      if (arrived === undefined) lost++;
      delays.push(arrived === undefined ? GIVE_UP_MS : Math.max(0, arrived - returned));
    }
    delays.sort((a, b) => a - b);
    curve = curveOf(delays);
    for (const p of [50, 99]) {
      rows.push({
        metric: `revokeSession returns -> signed webhook arrives, p${p} (n=${count})`,
        figure: fmt.ms(percentile(delays, p)),
        baseline: "",
        ratio: "",
        target: "",
        met: null,
      });
    }
    rows.push({
      metric: "webhooks lost (none within 10 s) / bad signatures",
      figure: `${lost} / ${receiver.badSignatures()}`,
      baseline: "",
      ratio: "",
      target: "0 / 0",
      met: lost === 0 && receiver.badSignatures() === 0,
    });
  } finally {
    await receiver.close();
    await worker.stop();
    await server.stop();
  }
  return {
    id: 8,
    title: "Webhook delay",
    rows,
    notes: [
      "One at a time: the clock starts when admin.revokeSession's answer arrives and stops when the receiver (plain node:http on loopback, in the bench process) has the webhook: the outbox relay (woken by the commit), the revocation queue, the worker applying the event, the webhook queue, signing, the HTTP POST.",
    ],
    curves: curve?.length ? [{ label: "revocation -> webhook", curve }] : [],
  };
}
