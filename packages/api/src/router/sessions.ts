import type { TRPCRouterRecord } from "@trpc/server";
import { listSessions, revokeSession } from "@warden/auth";
import { sessionIdInput } from "@warden/contracts";
import { clientInfo } from "../context.js";
import { protectedProcedure } from "../trpc.js";

export const sessionsRouter = {
  list: protectedProcedure.query(({ ctx }) => listSessions(ctx.auth, ctx.principal.userId, ctx.principal.sessionId)),

  /** Own sessions only: someone else's session id is NOT_FOUND, as if it did not exist. */
  revoke: protectedProcedure.input(sessionIdInput).mutation(async ({ ctx, input }) => {
    const { userId } = ctx.principal;
    await revokeSession(ctx.auth, {
      sessionId: input.sessionId,
      ownerId: userId,
      reason: "revoked by its user",
      actor: { type: "user", id: userId },
      client: clientInfo(ctx),
    });
    return { ok: true as const };
  }),
} satisfies TRPCRouterRecord;
