import { randomUUID } from "node:crypto";
import { startWardenSystem, startWebhookReceiver, waitFor, type WardenSystem, type WebhookReceiver } from "@warden/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { expectOneLineError, runWarden, tempConfigDir, loginAsAdmin } from "./cli.js";

/** A system of its own that may call loopback (WEBHOOKS_ALLOW_LOCAL, on server and worker), and a receiver there. */
let system: WardenSystem;
let receiver: WebhookReceiver;
let adminDir: Awaited<ReturnType<typeof tempConfigDir>>;

/** `warden` as the signed-in admin, against the test server. */
const asAdmin = (...args: string[]) => runWarden(args, { WARDEN_CONFIG_DIR: adminDir.dir, WARDEN_URL: system.url });

interface Listed {
  id: string;
  url: string;
  events: string[];
  description: string | null;
  lastDelivery: { id: string; status: string; attempts: number; lastStatus?: number } | null;
}
const list = async (): Promise<Listed[]> => JSON.parse((await asAdmin("webhooks", "list", "--json")).stdout) as Listed[];

beforeAll(async () => {
  [system, receiver, adminDir] = await Promise.all([
    startWardenSystem({ env: { WEBHOOKS_ALLOW_LOCAL: "true" } }),
    startWebhookReceiver(),
    tempConfigDir(),
  ]);
  await loginAsAdmin(system, adminDir.dir);
});

afterAll(async () => {
  await system?.close();
  await receiver?.close();
  await adminDir?.remove();
});

describe("warden webhooks", () => {
  let id: string;

  it("create prints the signing secret once, with a warning; --json carries it; list never shows it", async () => {
    const created = await asAdmin(
      "webhooks",
      "create",
      receiver.url,
      "--event",
      "session.revoked",
      "--event",
      "user.locked",
      "--description",
      "SIEM feed",
    );
    expect(created.code, created.stderr).toBe(0);
    const [first, secretLine, warning, ...rest] = created.stdout.trimEnd().split("\n");
    expect(rest).toEqual([]);
    id = /^webhook ([0-9a-f-]{36}) created for /.exec(first!)![1]!;
    expect(first).toBe(`webhook ${id} created for ${receiver.url} (session.revoked, user.locked)`);
    const secret = /^signing secret: (whsec_[A-Za-z0-9+/=]+)$/.exec(secretLine!)![1]!;
    expect(warning).toBe("This secret will not be shown again: store it now, your receiver verifies signatures with it.");
    receiver.secret = secret;

    const json = await asAdmin("webhooks", "create", receiver.url, "--event", "user.deleted", "user.unlocked", "--json");
    expect(json.code, json.stderr).toBe(0);
    const second = JSON.parse(json.stdout) as { id: string; secret: string };
    expect(second).toEqual({
      id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      secret: expect.stringMatching(/^whsec_/),
      url: receiver.url,
      events: ["user.deleted", "user.unlocked"],
    });

    const [text, listed] = await Promise.all([asAdmin("webhooks", "list"), list()]);
    expect(text.stdout).toMatch(/^ID +URL +EVENTS +LAST DELIVERY +DESCRIPTION\n/);
    expect(text.stdout).toMatch(new RegExp(`\\n${id} +${receiver.url} +session\\.revoked,user\\.locked +none yet +SIEM feed\\n`));
    expect(listed).toEqual([
      {
        id,
        url: receiver.url,
        events: ["session.revoked", "user.locked"],
        description: "SIEM feed",
        createdAt: expect.any(Number),
        lastDelivery: null,
      },
      expect.objectContaining({ id: second.id, events: ["user.deleted", "user.unlocked"], description: null }),
    ]);
    for (const output of [text.stdout, JSON.stringify(listed)]) {
      expect(output).not.toContain("whsec_");
      expect(output).not.toContain(secret);
    }
  });

  it("test sends a signed webhook.test that the receiver verifies, and list shows the delivery succeeded", async () => {
    const tested = await asAdmin("webhooks", "test", id);
    expect(tested.code, tested.stderr).toBe(0);
    const deliveryId = /^test delivery ([0-9a-f-]{36}) queued; `warden webhooks list` shows how it went\n$/.exec(
      tested.stdout,
    )![1]!;

    const hook = await receiver.waitFor((h) => h.id === deliveryId, 30_000);
    expect(hook.verified).toBe(true);
    expect(hook.payload.type).toBe("webhook.test");
    const delivered = await waitFor(
      async () => (await list()).find((w) => w.id === id && w.lastDelivery?.status === "succeeded")?.lastDelivery,
      30_000,
      "the delivery marked succeeded",
    );
    expect(delivered).toMatchObject({ id: deliveryId, attempts: 1, lastStatus: 204 });
    const text = await asAdmin("webhooks", "list");
    expect(text.stdout).toMatch(new RegExp(`${id} .* succeeded \\(HTTP 204\\), 1 attempt, \\d+s ago +SIEM feed`));

    const json = await asAdmin("webhooks", "test", id, "--json");
    expect(JSON.parse(json.stdout)).toEqual({ deliveryId: expect.stringMatching(/^[0-9a-f-]{36}$/), id });
  });

  it("a URL the server refuses exits 1 with its reason; a malformed URL or event type exits 1 before anything is sent; nothing is created", async () => {
    const before = (await list()).length;
    const [privateAddress, notHttps, credentials, badEvent, noEvent, repeated] = await Promise.all([
      asAdmin("webhooks", "create", "https://10.1.2.3/hook", "--event", "session.revoked"),
      asAdmin("webhooks", "create", "ftp://hooks.example.com/in", "--event", "session.revoked"),
      asAdmin("webhooks", "create", "https://user:pw@hooks.example.com/in", "--event", "session.revoked"),
      asAdmin("webhooks", "create", "https://hooks.example.com/in", "--event", "session.exploded"),
      asAdmin("webhooks", "create", "https://hooks.example.com/in"),
      asAdmin("webhooks", "create", "https://hooks.example.com/in", "--event", "user.locked", "user.locked"),
    ]);
    expectOneLineError(
      privateAddress,
      1,
      /^warden: invalid input: url: must not point to a private address: 10\.1\.2\.3 is a private address: webhooks may only call public addresses\n$/,
    );
    expect(notHttps.code).toBe(1);
    expect(notHttps.stderr).toContain("url must be an https:// URL");
    expect(credentials.code).toBe(1);
    expect(credentials.stderr).toContain("url must not contain a user name or password");
    expect(badEvent.code).toBe(1);
    expect(badEvent.stderr).toContain("--event must be one of session.revoked, user.revoked");
    expect(noEvent.code).toBe(1);
    expect(noEvent.stderr).toContain("required option '--event <type...>' not specified");
    expectOneLineError(repeated, 1, /^warden: invalid input: events: must not repeat an event type\n$/);
    expect(await list()).toHaveLength(before);
  });

  it("delete removes a webhook; an unknown id exits 3 for delete and test; a malformed one exits 1", async () => {
    const deleted = await asAdmin("webhooks", "delete", id);
    expect(deleted.code, deleted.stderr).toBe(0);
    expect(deleted.stdout).toBe(`webhook ${id} deleted\n`);
    expect((await list()).map((w) => w.id)).not.toContain(id);

    const [again, test, unknown, malformed] = await Promise.all([
      asAdmin("webhooks", "delete", id, "--json"),
      asAdmin("webhooks", "test", id),
      asAdmin("webhooks", "test", randomUUID()),
      asAdmin("webhooks", "delete", "42"),
    ]);
    expectOneLineError(again, 3, /^warden: no such webhook\n$/);
    expect(again.stdout).toBe("");
    expectOneLineError(test, 3, /^warden: no such webhook\n$/);
    expectOneLineError(unknown, 3, /^warden: no such webhook\n$/);
    expect(malformed.code).toBe(1);
    expect(malformed.stderr).toContain("webhook id must be a UUID");
  });
});
