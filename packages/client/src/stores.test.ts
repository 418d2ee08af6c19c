import { randomUUID } from "node:crypto";
import { createTestClock } from "@warden/auth/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cookieStore, createWardenClient, webLock, webStorageStore } from "./node.js";
import { sessionOf, startCountingServer, type CountingServer } from "@warden/testing";

const password = "correct horse battery";
const email = () => `store-${randomUUID()}@example.com`;
const clock = createTestClock(Date.now());
let s: CountingServer;

beforeAll(async () => {
  // No reuse grace: a refresh token presented twice would end the session at once.
  s = await startCountingServer({ clock, settings: { refreshReuseGraceMs: 0 } });
});
afterAll(async () => {
  await s.close();
});

/** Plays the browser's cookie jar for one origin: keeps Set-Cookie, sends it back with credentials. */
function browserFetch() {
  const jar = new Map<string, string>();
  const seen: { cookieHeader: boolean; credentials: boolean }[] = [];
  const fetchWithJar: typeof fetch = async (input, init = {}) => {
    const headers = new Headers(init.headers);
    seen.push({ cookieHeader: headers.get("x-warden-cookie") === "1", credentials: init.credentials === "include" });
    if (init.credentials === "include" && jar.size) headers.set("cookie", [...jar].map(([k, v]) => `${k}=${v}`).join("; "));
    const response = await fetch(input, { ...init, headers });
    for (const line of response.headers.getSetCookie()) {
      const [pair] = line.split(";");
      const [name, value] = pair!.split("=") as [string, string];
      if (value) jar.set(name, value);
      else jar.delete(name);
    }
    return response;
  };
  return { fetch: fetchWithJar, jar, seen };
}

/** A Web Locks stand-in (Node 20 has none): one holder per name, waiting bounded by the signal. */
function installWebLocks() {
  const tails = new Map<string, Promise<void>>();
  const locks = {
    requests: 0,
    async request<T>(name: string, options: { signal?: AbortSignal }, fn: () => Promise<T>): Promise<T> {
      locks.requests++;
      const previous = tails.get(name) ?? Promise.resolve();
      let release!: () => void;
      const mine = new Promise<void>((r) => (release = r));
      tails.set(
        name,
        previous.then(() => mine),
      );
      const aborted = new Promise<never>((_, reject) =>
        options.signal?.addEventListener("abort", () => reject(new DOMException("aborted", "AbortError"))),
      );
      try {
        await Promise.race([previous, aborted]);
      } catch (error) {
        release();
        throw error;
      }
      try {
        return await fn();
      } finally {
        release();
      }
    },
  };
  Object.defineProperty(globalThis, "navigator", { value: { locks }, configurable: true });
  return { locks, uninstall: () => Reflect.deleteProperty(globalThis, "navigator") };
}

function memoryStorage() {
  const items = new Map<string, string>();
  return {
    items,
    getItem: (k: string) => items.get(k) ?? null,
    setItem: (k: string, v: string) => void items.set(k, v),
    removeItem: (k: string) => void items.delete(k),
  };
}

describe("cookie mode", () => {
  it("keeps the refresh token out of JavaScript and renews through the httpOnly cookie", async () => {
    const browser = browserFetch();
    const store = cookieStore();
    const warden = createWardenClient({ url: s.url, store, fetch: browser.fetch, now: clock });
    const signed = await sessionOf(warden.signup({ email: email(), password }));
    expect(signed.refreshToken).toBe("");
    expect(browser.jar.size).toBe(1);
    expect((await store.get())?.refreshToken).toBeUndefined();

    clock.advance(16 * 60_000);
    const before = s.requests("auth.refresh");
    expect((await warden.api.auth.me.query()).user.id).toBe(signed.user.id);
    expect(s.requests("auth.refresh")).toBe(before + 1);
    expect((await store.get())?.refreshToken).toBeUndefined();
    expect(browser.seen.every((r) => r.cookieHeader && r.credentials)).toBe(true);

    // A page load: memory is empty, the cookie is still there; refresh() resumes the session.
    const reloaded = createWardenClient({ url: s.url, store: cookieStore(), fetch: browser.fetch, now: clock });
    expect(await reloaded.isSignedIn()).toBe(false);
    await reloaded.refresh();
    expect((await reloaded.api.auth.me.query()).user.id).toBe(signed.user.id);
  });
});

describe("web storage", () => {
  it("two tabs sharing localStorage renew once between them under Web Locks", async () => {
    const { locks, uninstall } = installWebLocks();
    try {
      const storage = memoryStorage();
      const tabA = createWardenClient({ url: s.url, store: webStorageStore(storage), now: clock });
      const tabB = createWardenClient({ url: s.url, store: webStorageStore(storage), now: clock });
      const signed = await tabA.signup({ email: email(), password });
      expect(await tabB.isSignedIn()).toBe(true);

      clock.advance(16 * 60_000);
      const before = s.requests("auth.refresh");
      const [a, b] = await Promise.all([tabA.api.auth.me.query(), tabB.api.auth.me.query()]);
      expect([a.user.id, b.user.id]).toEqual([signed.user.id, signed.user.id]);
      expect(s.requests("auth.refresh")).toBe(before + 1);
      expect(locks.requests).toBe(2);
    } finally {
      uninstall();
    }
  });

  it("a lock that is never granted does not hang the renewal", async () => {
    const { uninstall } = installWebLocks();
    try {
      const lock = webLock("stuck", 50);
      let releaseHolder!: () => void;
      const holder = lock(() => new Promise<void>((r) => (releaseHolder = r)));
      expect(await lock(async () => "ran anyway")).toBe("ran anyway");
      releaseHolder();
      await holder;
    } finally {
      uninstall();
    }
  });
});
