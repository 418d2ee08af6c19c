import http from "node:http";
import net, { type AddressInfo } from "node:net";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { postWebhook, type WebhookLookup } from "./webhook-http.js";

/**
 * The delivery client's SSRF defences, with the DNS lookup injected. Every server here listens on
 * 127.0.0.1; addresses outside loopback are only ever returned by the fake lookup, and a spy on
 * the socket factory blocks (and counts) any attempt to connect anywhere.
 */
let server: http.Server;
let port = 0;
let connections = 0;
const requests: string[] = [];
let answer: (req: http.IncomingMessage, res: http.ServerResponse) => void = (_req, res) => res.writeHead(204).end();

beforeAll(async () => {
  server = http.createServer((req, res) => {
    requests.push(req.url ?? "");
    answer(req, res);
  });
  server.on("connection", () => connections++);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  port = (server.address() as AddressInfo).port;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));
afterEach(() => {
  vi.restoreAllMocks();
  answer = (_req, res) => res.writeHead(204).end();
});

const request = (url: string) => ({ url, headers: { "content-type": "application/json" }, body: "{}" });
const resolvingTo =
  (...addresses: string[]): WebhookLookup =>
  () =>
    Promise.resolve(addresses.map((address) => ({ address, family: net.isIPv6(address) ? 6 : 4 })));

/** Counts every socket connect attempt in this process, and stops it before it leaves. */
function blockConnects() {
  return vi.spyOn(net.Socket.prototype, "connect").mockImplementation(() => {
    throw new Error("connect attempted");
  });
}

describe("the webhook delivery client", () => {
  it("refuses a name resolving to a private, link-local (metadata), loopback, mapped or IPv4-compatible address without connecting", async () => {
    const connect = blockConnects();
    for (const address of [
      "10.0.0.5",
      "169.254.169.254",
      "192.168.0.10",
      "127.0.0.1",
      "::1",
      "fd00:ec2::254",
      "::ffff:10.1.2.3",
      "::7f00:1", // IPv4-compatible (::/96) forms of 127.0.0.1 and 10.0.0.1
      "::a00:1",
      "0.0.0.0",
    ]) {
      const result = await postWebhook(request("https://hooks.example.com/x"), {
        allowLocal: false,
        lookup: resolvingTo(address),
      });
      expect(result, address).toMatchObject({ ok: false, refused: true });
      expect(result.ok === false && result.error, address).toMatch(/^refused: hooks\.example\.com resolves to .* address/);
    }
    // A name with one public and one private address is refused as a whole: DNS cannot pick the private one later.
    const mixed = await postWebhook(request("https://hooks.example.com/x"), {
      allowLocal: false,
      lookup: resolvingTo("93.184.216.34", "10.0.0.1"),
    });
    expect(mixed).toMatchObject({ ok: false, refused: true });
    // A literal address in the URL is checked the same way (no lookup is made for it).
    expect(await postWebhook(request("https://169.254.169.254/latest"), { allowLocal: true })).toMatchObject({ refused: true });
    expect(await postWebhook(request("https://[::a9fe:a9fe]/latest"), { allowLocal: true })).toMatchObject({ refused: true });
    expect(connect).not.toHaveBeenCalled();
  });

  it("loopback is refused without WEBHOOKS_ALLOW_LOCAL (the server sees no connection) and reached with it", async () => {
    const before = { connections, requests: requests.length };
    const lookup = resolvingTo("127.0.0.1");
    const refused = await postWebhook(request(`http://rebind.invalid:${port}/a`), { allowLocal: false, lookup });
    expect(refused).toMatchObject({ ok: false, refused: true });
    expect(connections).toBe(before.connections);

    // `.invalid` never resolves in real DNS: the request arriving proves the connection went to the
    // address the injected lookup gave and was checked, not to a second resolution.
    let lookups = 0;
    const counted: WebhookLookup = (name) => {
      lookups++;
      return lookup(name);
    };
    expect(await postWebhook(request(`http://rebind.invalid:${port}/b`), { allowLocal: true, lookup: counted })).toEqual({
      ok: true,
      status: 204,
    });
    expect(lookups).toBe(1);
    expect(requests.slice(before.requests)).toEqual(["/b"]);
  });

  it("http:// reaches loopback only; a private address stays refused even with WEBHOOKS_ALLOW_LOCAL", async () => {
    const connect = blockConnects();
    for (const address of ["93.184.216.34", "10.0.0.1"]) {
      const result = await postWebhook(request("http://hooks.example.com/x"), { allowLocal: true, lookup: resolvingTo(address) });
      expect(result, address).toMatchObject({ ok: false, refused: true });
    }
    expect(connect).not.toHaveBeenCalled();
    // The spy does see real attempts: an allowed target is tried (and stopped there).
    expect(await postWebhook(request(`http://127.0.0.1:${port}/x`), { allowLocal: true })).toMatchObject({
      ok: false,
      error: "connect attempted",
    });
    expect(connect).toHaveBeenCalledTimes(1);
  });

  it("does not follow a redirect: a 3xx is a failed attempt and its target sees no request", async () => {
    const target = http.createServer((_req, res) => res.writeHead(204).end());
    let targetRequests = 0;
    target.on("request", () => targetRequests++);
    await new Promise<void>((resolve) => target.listen(0, "127.0.0.1", resolve));
    try {
      const location = `http://127.0.0.1:${(target.address() as AddressInfo).port}/elsewhere`;
      answer = (_req, res) => res.writeHead(307, { location }).end();
      const result = await postWebhook(request(`http://127.0.0.1:${port}/redirected`), { allowLocal: true });
      expect(result).toEqual({ ok: false, status: 307, error: "answered 307: redirects are not followed" });
      expect(targetRequests).toBe(0);
    } finally {
      await new Promise<void>((resolve) => target.close(() => resolve()));
    }
  });

  it("a receiver that does not answer in time is a failed attempt; a huge answer is read only so far", async () => {
    answer = () => {}; // never answers
    expect(await postWebhook(request(`http://127.0.0.1:${port}/slow`), { allowLocal: true, timeoutMs: 300 })).toEqual({
      ok: false,
      error: "no answer within 300 ms",
    });
    answer = (_req, res) => {
      res.writeHead(200);
      const chunk = Buffer.alloc(64 * 1024, 120);
      const write = () => {
        while (!res.destroyed && res.write(chunk));
        if (!res.destroyed) res.once("drain", write);
      };
      write();
    };
    expect(await postWebhook(request(`http://127.0.0.1:${port}/endless`), { allowLocal: true })).toEqual({
      ok: true,
      status: 200,
    });
    answer = (_req, res) => res.writeHead(500).end("nope");
    expect(await postWebhook(request(`http://127.0.0.1:${port}/error`), { allowLocal: true })).toEqual({
      ok: false,
      status: 500,
      error: "answered 500",
    });
  });
});
