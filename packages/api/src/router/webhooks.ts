import type { TRPCRouterRecord } from "@trpc/server";
import { createWebhook, deleteWebhook, listWebhooks, testWebhook } from "@warden/auth";
import { adminWebhookCreateInput, adminWebhookIdInput } from "@warden/contracts";
import { madeBy } from "../context.js";
import { adminProcedure } from "../trpc.js";

/** `admin.webhooks.*`: signed webhooks (Standard Webhooks), delivered by the admin worker. */
export const webhooksRouter = {
  /** The secret is in this answer only: it is kept encrypted and never shown again. */
  create: adminProcedure.input(adminWebhookCreateInput).mutation(({ ctx, input }) => createWebhook(ctx.auth, input, madeBy(ctx))),

  list: adminProcedure.query(({ ctx }) => listWebhooks(ctx.auth)),

  delete: adminProcedure.input(adminWebhookIdInput).mutation(({ ctx, input }) => deleteWebhook(ctx.auth, input.id, madeBy(ctx))),

  test: adminProcedure.input(adminWebhookIdInput).mutation(({ ctx, input }) => testWebhook(ctx.auth, input.id, madeBy(ctx))),
} satisfies TRPCRouterRecord;
