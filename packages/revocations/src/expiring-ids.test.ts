import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { ExpiringIds } from "./expiring-ids.js";

const T0 = Date.UTC(2026, 0, 1);

describe("ExpiringIds", () => {
  it("holds an id until its expiry, the later expiry winning", () => {
    const ids = new ExpiringIds();
    const id = randomUUID();
    ids.set(id, T0 + 60_000);
    ids.set(id, T0 + 30_000);
    expect(ids.get(id)).toBe(T0 + 60_000);
    ids.set(id, T0 + 90_000);
    expect(ids.get(id)).toBe(T0 + 90_000);
    expect(ids.get(randomUUID())).toBeUndefined();
    expect(ids.size).toBe(1);
  });

  it("keeps expiry in whole seconds, rounded up: never shorter than asked", () => {
    const ids = new ExpiringIds();
    const id = randomUUID();
    ids.set(id, T0 + 1_001);
    expect(ids.get(id)).toBe(T0 + 2_000);
  });

  it("matches ids exactly: another spelling of a UUID, or any other string, is a different id", () => {
    const ids = new ExpiringIds();
    const id = randomUUID();
    ids.set(id, T0 + 60_000);
    expect(ids.get(id.toUpperCase())).toBeUndefined();
    expect(ids.get(id.replaceAll("-", ""))).toBeUndefined();
    ids.set(id.toUpperCase(), T0 + 120_000);
    ids.set("not-a-uuid", T0 + 60_000);
    expect(ids.get(id)).toBe(T0 + 60_000);
    expect(ids.get(id.toUpperCase())).toBe(T0 + 120_000);
    expect(ids.get("not-a-uuid")).toBe(T0 + 60_000);
    expect(ids.get("not-a-uuid ")).toBeUndefined();
    expect(ids.size).toBe(3);
  });

  it("agrees with a Map through growth, expiry and sweeps (random operations)", () => {
    const ids = new ExpiringIds();
    const model = new Map<string, number>();
    let seed = 42;
    const random = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32;
    const known: string[] = [];
    let now = T0;
    for (let step = 0; step < 60_000; step++) {
      const roll = random();
      if (roll < 0.6 || known.length === 0) {
        const id = random() < 0.02 ? `other-${step}` : randomUUID();
        known.push(id);
        const until = now + 1_000 * Math.ceil(random() * 120);
        ids.set(id, until);
        model.set(id, Math.max(model.get(id) ?? 0, until));
      } else if (roll < 0.65) {
        const id = known[Math.floor(random() * known.length)]!;
        const until = now + 1_000 * Math.ceil(random() * 120);
        ids.set(id, until);
        model.set(id, Math.max(model.get(id) ?? 0, until));
      } else if (roll < 0.999) {
        const id = known[Math.floor(random() * known.length)]!;
        const expected = model.get(id);
        const held = ids.get(id);
        // After a sweep, an expired id may be gone; before, it is still there with its expiry.
        if (expected !== undefined && expected > now) expect(held).toBe(expected);
        else expect(held === undefined || held <= now).toBe(true);
      } else {
        now += 30_000;
        ids.sweep(now);
        for (const [id, until] of model) if (until <= now) model.delete(id);
        expect(ids.size).toBe(model.size);
      }
    }
    expect(model.size).toBeGreaterThan(1_000);
  });

  it("a sweep drops what has expired and keeps the rest", () => {
    const ids = new ExpiringIds();
    const short = Array.from({ length: 5_000 }, () => randomUUID());
    const long = Array.from({ length: 5_000 }, () => randomUUID());
    for (const id of short) ids.set(id, T0 + 10_000);
    for (const id of long) ids.set(id, T0 + 100_000);
    ids.sweep(T0 + 10_000);
    expect(ids.size).toBe(5_000);
    expect(short.every((id) => ids.get(id) === undefined)).toBe(true);
    expect(long.every((id) => ids.get(id) === T0 + 100_000)).toBe(true);
  });
});
