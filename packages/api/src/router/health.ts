import type { HealthStatus } from "@warden/contracts";
import { publicProcedure } from "../trpc.js";

async function probe(check: (() => Promise<boolean>) | undefined): Promise<"up" | "down"> {
  if (!check) return "down";
  try {
    return (await check()) ? "up" : "down";
  } catch {
    return "down";
  }
}

export const healthProcedure = publicProcedure.query(async ({ ctx }): Promise<HealthStatus> => {
  const [db, redis] = await Promise.all([probe(ctx.health?.db), probe(ctx.health?.redis)]);
  // Warnings do not make the instance unready: it serves, and the operator is told what to fix.
  return { ok: db === "up" && redis === "up", db, redis, warnings: ctx.health?.warnings?.() ?? [] };
});
