import type { TRPCRouterRecord } from "@trpc/server";
import {
  deleteUser,
  findUserForAdmin,
  getRevocationStatus,
  listAudit,
  listUsers,
  revokeSession,
  revokeUserSessions,
  setUserRole,
  unlockUser,
} from "@warden/auth";
import {
  adminAuditInput,
  adminDeleteUserInput,
  adminFindUserInput,
  adminListUsersInput,
  adminRevocationInput,
  adminRevokeSessionInput,
  adminRevokeUserInput,
  adminSetRoleInput,
  adminUnlockUserInput,
} from "@warden/contracts";
import { madeBy } from "../context.js";
import { fail } from "../errors.js";
import { adminProcedure } from "../trpc.js";
import { webhooksRouter } from "./webhooks.js";

export const adminRouter = {
  users: {
    find: adminProcedure.input(adminFindUserInput).query(async ({ ctx, input }) => {
      const found = await findUserForAdmin(ctx.auth, input);
      if (!found) fail("NOT_FOUND", "no such user");
      return found;
    }),
    list: adminProcedure.input(adminListUsersInput).query(({ ctx, input }) => listUsers(ctx.auth, input ?? {})),
  },

  revokeUser: adminProcedure.input(adminRevokeUserInput).mutation(async ({ ctx, input }) => {
    const { eventId } = await revokeUserSessions(ctx.auth, {
      userId: input.userId,
      reason: input.reason,
      lock: input.lock ?? false,
      ...madeBy(ctx),
    });
    return { eventId };
  }),

  revokeSession: adminProcedure.input(adminRevokeSessionInput).mutation(async ({ ctx, input }) => {
    const { eventId } = await revokeSession(ctx.auth, { sessionId: input.sessionId, reason: input.reason, ...madeBy(ctx) });
    // Revoked before (by an event, or before events existed): report that one.
    if (!eventId) fail("NOT_FOUND", "session already revoked");
    return { eventId };
  }),

  unlockUser: adminProcedure.input(adminUnlockUserInput).mutation(async ({ ctx, input }) => {
    await unlockUser(ctx.auth, { userId: input.userId, reason: input.reason, ...madeBy(ctx) });
    return { ok: true as const };
  }),

  /** A demotion is refused by adminProcedure on every instance from its commit on (the role is read on each call). */
  setRole: adminProcedure.input(adminSetRoleInput).mutation(async ({ ctx, input }) => {
    await setUserRole(ctx.auth, { userId: input.userId, role: input.role, reason: input.reason, ...madeBy(ctx) });
    return { ok: true as const };
  }),

  deleteUser: adminProcedure.input(adminDeleteUserInput).mutation(async ({ ctx, input }) => {
    const { eventId } = await deleteUser(ctx.auth, { userId: input.userId, reason: input.reason, ...madeBy(ctx) });
    return { eventId };
  }),

  revocation: adminProcedure.input(adminRevocationInput).query(async ({ ctx, input }) => {
    const status = await getRevocationStatus(ctx.auth, input.eventId);
    if (!status) fail("NOT_FOUND", "no such revocation event");
    return status;
  }),

  audit: adminProcedure.input(adminAuditInput).query(({ ctx, input }) => listAudit(ctx.auth, input ?? {})),

  webhooks: webhooksRouter,
} satisfies TRPCRouterRecord;
