import { publicProcedure } from "../trpc.js";

async function probe(check: (() => Promise<boolean>) | undefined): Promise<"up" | "down"> {
  if (!check) return "down";
  try {
    return (await check()) ? "up" : "down";
  } catch {
    return "down";
  }
}

export const healthProcedure = publicProcedure.query(async ({ ctx }) => {
  const [db, redis] = await Promise.all([probe(ctx.health?.db), probe(ctx.health?.redis)]);
  return { ok: db === "up" && redis === "up", db, redis };
});
