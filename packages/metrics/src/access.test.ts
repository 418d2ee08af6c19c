import { Counter, Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import { metricsAnswer, metricsRequestAllowed, metricsTokenSetting } from "./access.js";
import { serveMetrics } from "./serve.js";

const TOKEN = "s3cret-metrics-token";

describe("metrics access", () => {
  it("without a token anyone may scrape; with one, only its bearer", () => {
    expect(metricsRequestAllowed(undefined, undefined)).toBe(true);
    expect(metricsRequestAllowed("Bearer whatever", undefined)).toBe(true);
    expect(metricsRequestAllowed(`Bearer ${TOKEN}`, TOKEN)).toBe(true);
    expect(metricsRequestAllowed(`bearer  ${TOKEN}`, TOKEN)).toBe(true);
    for (const header of [undefined, "", TOKEN, `Bearer ${TOKEN}x`, `Bearer ${TOKEN.slice(1)}`, `Basic ${TOKEN}`, "Bearer "]) {
      expect(metricsRequestAllowed(header, TOKEN)).toBe(false);
    }
  });

  it("METRICS_TOKEN refuses short, empty or spaced values", () => {
    expect(metricsTokenSetting.safeParse(undefined).success).toBe(true);
    expect(metricsTokenSetting.safeParse(TOKEN).success).toBe(true);
    for (const bad of ["", "short", "has a space in it ok"]) expect(metricsTokenSetting.safeParse(bad).success).toBe(false);
  });

  it("serves the registry on a port of its own, 401 without the token", async () => {
    const registry = new Registry();
    new Counter({ name: "warden_test_total", help: "a test counter", registers: [registry] }).inc(3);
    expect((await metricsAnswer(registry, undefined, TOKEN)).status).toBe(401);
    const server = await serveMetrics({ registry, port: 0, host: "127.0.0.1", token: TOKEN });
    try {
      const refused = await fetch(server.url);
      expect(refused.status).toBe(401);
      expect(refused.headers.get("www-authenticate")).toMatch(/^Bearer/);
      const scraped = await fetch(server.url, { headers: { authorization: `Bearer ${TOKEN}` } });
      expect(scraped.status).toBe(200);
      expect(scraped.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4/);
      expect(await scraped.text()).toContain("warden_test_total 3");
      expect((await fetch(server.url.replace("/metrics", "/other"))).status).toBe(404);
      expect((await fetch(server.url, { method: "POST" })).status).toBe(405);
    } finally {
      await server.close();
    }
  });
});
