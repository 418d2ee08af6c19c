import { randomUUID } from "node:crypto";
import { refreshTokens, users } from "@warden/db";
import { eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { rotateInOneStatement } from "./rotate.js";
import { createTestAuth, createTestClock, type TestAuth } from "./testing.js";
import { deriveSuccessorToken, generateSuccessorSalt, hashToken } from "./tokens.js";
import { signup } from "./users.js";

const clock = createTestClock();
let t: TestAuth;

beforeAll(async () => {
  t = await createTestAuth({ clock });
});
afterAll(() => t.close());

const newUser = () => signup(t.auth, { email: `fast-${randomUUID()}@example.com`, password: "correct horse battery" }, {});
const successorOf = (token: string, salt: string) => ({ token: deriveSuccessorToken(t.auth.refreshKeys[0], salt, token), salt });
const rotate = (token: string, salt = generateSuccessorSalt()) => rotateInOneStatement(t.auth, token, successorOf(token, salt), clock());

describe("refresh rotation in one statement", () => {
  it("rotates a live token: marks it rotated and stores exactly one successor", async () => {
    const res = await newUser();
    const salt = generateSuccessorSalt();
    const rotated = await rotate(res.refreshToken, salt);
    expect(rotated).toMatchObject({ sessionId: res.sessionId, userId: res.user.id, role: "user" });
    expect(rotated!.successorExpiresAt).toBe(clock() + t.auth.settings.refreshTokenTtlMs);
    const [parent] = await t.database.db.select().from(refreshTokens).where(eq(refreshTokens.tokenHash, hashToken(res.refreshToken)));
    expect(parent?.rotatedAt?.getTime()).toBe(clock());
    expect(parent?.successorSalt).toBe(salt);
    const children = await t.database.db.select().from(refreshTokens).where(eq(refreshTokens.parentId, parent!.id));
    expect(children.map((c) => c.tokenHash)).toEqual([hashToken(successorOf(res.refreshToken, salt).token)]);
  });

  it("leaves every unusual case to the locking transaction: rotated, unknown, expired, revoked, locked", async () => {
    const rotatedOnce = await newUser();
    await rotate(rotatedOnce.refreshToken);
    expect(await rotate(rotatedOnce.refreshToken)).toBeUndefined();
    expect(await rotate("not-a-token")).toBeUndefined();

    const revoked = await newUser();
    await t.database.sql`update sessions set revoked_at = now() where id = ${revoked.sessionId}`;
    expect(await rotate(revoked.refreshToken)).toBeUndefined();

    const locked = await newUser();
    await t.database.db.update(users).set({ lockedAt: new Date(clock()) }).where(eq(users.id, locked.user.id));
    expect(await rotate(locked.refreshToken)).toBeUndefined();

    const idle = await newUser();
    clock.advance(t.auth.settings.refreshTokenTtlMs);
    expect(await rotate(idle.refreshToken)).toBeUndefined();
  });

  it("of concurrent rotations of one token exactly one succeeds", async () => {
    const res = await newUser();
    const results = await Promise.all(Array.from({ length: 10 }, () => rotate(res.refreshToken)));
    expect(results.filter(Boolean)).toHaveLength(1);
  });
});
