import { afterAll, beforeAll, expect, it } from "vitest";
import { outboxBacklog } from "./outbox.js";
import { revokeSession } from "./revoke.js";
import { createTestAuth, createTestClock, type TestAuth } from "./testing.js";
import { signup } from "./users.js";

const clock = createTestClock();
let t: TestAuth;

beforeAll(async () => {
  t = await createTestAuth({ clock });
});
afterAll(() => t.close());

async function revokeNewSession(tag: string): Promise<string> {
  const user = await signup(t.auth, { email: `${tag}@example.com`, password: "correct horse battery" }, {});
  // Only the revocation is counted here: the signup's own events (user.signed_up, the verification email) are not part of this test.
  await t.database.sql`delete from outbox_events where type in ('user.signed_up', 'email.requested')`;
  const { eventId } = await revokeSession(t.auth, {
    sessionId: user.sessionId,
    reason: "r",
    actor: { type: "system", id: null },
  });
  return eventId!;
}

it("the backlog counts unpublished and unapplied events, each with the time its oldest was written", async () => {
  expect(await outboxBacklog(t.database.db)).toEqual({
    unpublished: 0,
    oldestUnpublishedAt: undefined,
    unapplied: 0,
    oldestUnappliedAt: undefined,
  });
  const first = await revokeNewSession("backlog-1");
  const firstAt = clock();
  clock.advance(5_000);
  const second = await revokeNewSession("backlog-2");
  expect(await outboxBacklog(t.database.db)).toEqual({
    unpublished: 2,
    oldestUnpublishedAt: firstAt,
    unapplied: 0,
    oldestUnappliedAt: undefined,
  });

  await t.database.sql`update outbox_events set published_at = now() where id = ${first}`;
  expect(await outboxBacklog(t.database.db)).toEqual({
    unpublished: 1,
    oldestUnpublishedAt: firstAt + 5_000,
    unapplied: 1,
    oldestUnappliedAt: firstAt,
  });

  await t.database.sql`update outbox_events set published_at = now(), applied_at = now() where id in (${first}, ${second})`;
  expect(await outboxBacklog(t.database.db)).toMatchObject({ unpublished: 0, unapplied: 0 });
});
