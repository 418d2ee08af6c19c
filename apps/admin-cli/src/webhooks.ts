import { InvalidArgumentError, type Command } from "commander";
import {
  idSchema,
  WEBHOOK_EVENT_TYPES,
  webhookDescriptionSchema,
  webhookUrlSchema,
  type WebhookEventType,
  type WebhookView,
} from "@warden/contracts";
import { parseWith, plural } from "./args.js";
import { context } from "./context.js";
import { ago, table } from "./output.js";
import { signedInClient } from "./session.js";

/** `--event a --event b` or `--event a b`: each checked as it comes, duplicates left to the server's schema. */
function collectEvent(value: string, previous: WebhookEventType[] | undefined): WebhookEventType[] {
  const type = WEBHOOK_EVENT_TYPES.find((t) => t === value);
  if (!type) throw new InvalidArgumentError(`--event must be one of ${WEBHOOK_EVENT_TYPES.join(", ")}`);
  return [...(previous ?? []), type];
}

/** The newest delivery in a few words: "succeeded (HTTP 204), 1 attempt, 3s ago". */
function describeDelivery(d: WebhookView["lastDelivery"]): string {
  if (!d) return "none yet";
  const outcome = [d.lastStatus ? `HTTP ${d.lastStatus}` : undefined, d.lastError].filter(Boolean).join(": ");
  return `${d.status}${outcome ? ` (${outcome})` : ""}, ${plural(d.attempts, "attempt", "attempts")}, ${ago(d.at)}`;
}

/** `webhooks list|create|delete|test`. */
export function registerWebhookCommands(program: Command): void {
  const webhooks = program
    .command("webhooks")
    .description("signed webhooks (Standard Webhooks) the admin worker delivers: list, create, delete, test");

  webhooks
    .command("list")
    .description("every webhook, oldest first, with its newest delivery")
    .option("--json", "machine-readable output")
    .action(async (opts: { json?: boolean }, command: Command) => {
      const { env, url, out } = await context(command, opts.json);
      const list = await (await signedInClient(env, url)).api.admin.webhooks.list.query();
      if (out.json) return out.printJson(list);
      if (list.length === 0) return out.line("no webhooks");
      const rows = list.map((w) => [w.id, w.url, w.events.join(","), describeDelivery(w.lastDelivery), w.description ?? ""]);
      out.line(table(["ID", "URL", "EVENTS", "LAST DELIVERY", "DESCRIPTION"], rows, out.colors.dim));
    });

  webhooks
    .command("create")
    .description("subscribe a URL to event types; prints the signing secret, once")
    .argument(
      "<url>",
      "where to POST the events: https://, or loopback with WEBHOOKS_ALLOW_LOCAL",
      parseWith(webhookUrlSchema, "url"),
    )
    .requiredOption("--event <type...>", `event types to deliver (${WEBHOOK_EVENT_TYPES.join(", ")})`, collectEvent)
    .option("--description <text>", "what it is for", parseWith(webhookDescriptionSchema, "description"))
    .option("--json", "machine-readable output: { id, secret, url, events }")
    .action(
      async (target: string, opts: { event: WebhookEventType[]; description?: string; json?: boolean }, command: Command) => {
        const { env, url, out } = await context(command, opts.json);
        const client = await signedInClient(env, url);
        const created = await client.api.admin.webhooks.create.mutate({
          url: target,
          events: opts.event,
          ...(opts.description ? { description: opts.description } : {}),
        });
        if (out.json) return out.printJson({ ...created, url: target, events: opts.event });
        out.line(`webhook ${created.id} created for ${target} (${opts.event.join(", ")})`);
        out.line(`signing secret: ${created.secret}`);
        out.line(
          out.colors.yellow("This secret will not be shown again: store it now, your receiver verifies signatures with it."),
        );
      },
    );

  webhooks
    .command("delete")
    .description("delete a webhook; its pending deliveries stop")
    .argument("<id>", "the webhook's id (see `warden webhooks list`)", parseWith(idSchema, "webhook id"))
    .option("--json", "machine-readable output")
    .action(async (id: string, opts: { json?: boolean }, command: Command) => {
      const { env, url, out } = await context(command, opts.json);
      await (await signedInClient(env, url)).api.admin.webhooks.delete.mutate({ id });
      if (out.json) return out.printJson({ ok: true, id });
      out.line(`webhook ${id} deleted`);
    });

  webhooks
    .command("test")
    .description("send a webhook.test delivery to one webhook, whatever it subscribes to")
    .argument("<id>", "the webhook's id (see `warden webhooks list`)", parseWith(idSchema, "webhook id"))
    .option("--json", "machine-readable output")
    .action(async (id: string, opts: { json?: boolean }, command: Command) => {
      const { env, url, out } = await context(command, opts.json);
      const { deliveryId } = await (await signedInClient(env, url)).api.admin.webhooks.test.mutate({ id });
      if (out.json) return out.printJson({ deliveryId, id });
      out.line(`test delivery ${deliveryId} queued; \`warden webhooks list\` shows how it went`);
    });
}
