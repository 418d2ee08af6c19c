import { describe, expect, it } from "vitest";
import { ARGON2_CONCURRENCY, argon2Load, hashPassword, verifyAgainstDummy, verifyPassword } from "./passwords.js";

describe("argon2 slots", () => {
  it("runs at most one computation per available core; the rest wait their turn, unknown emails' dummy checks included", async () => {
    const extra = 3;
    const hashes = Array.from({ length: ARGON2_CONCURRENCY + extra }, (_, i) => hashPassword(`password number ${i}`));
    const dummy = verifyAgainstDummy("a wrong password");
    await new Promise((resolve) => setImmediate(resolve));
    const load = argon2Load();
    expect(load.running).toBe(ARGON2_CONCURRENCY);
    expect(load.waiting).toBeGreaterThanOrEqual(extra);
    const done = await Promise.all(hashes);
    expect(await dummy).toBe(false);
    expect(await verifyPassword(done[0]!, "password number 0")).toBe(true);
    expect(await verifyPassword(done[0]!, "password number 1")).toBe(false);
    expect(argon2Load()).toEqual({ running: 0, waiting: 0 });
    console.log(
      `argon2 slots: ${ARGON2_CONCURRENCY}; with ${ARGON2_CONCURRENCY + extra + 1} asked at once, ${load.waiting} waited`,
    );
  });
});
