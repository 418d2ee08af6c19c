import { useCallback, useEffect, useState, type FormEvent } from "react";
import { WEBHOOK_EVENT_TYPES, type WebhookEventType } from "@warden/contracts/event-types";
import { ConfirmDialog } from "./ConfirmDialog.js";
import { ago, formatTime, messageOf, refusalOf, warden } from "./warden.js";

type Webhook = Awaited<ReturnType<typeof warden.api.admin.webhooks.list.query>>[number];
type Pending = { kind: "test" | "delete"; webhook: Webhook };
/** Deliveries change as the worker sends them: the list is read again this often while open. */
const REFRESH_MS = 2000;
const FIELDS = { url: "The URL", events: "Events", description: "The description" };

/** The newest delivery: its state, and the HTTP status or error of its last attempt. */
function LastDelivery({ delivery }: { delivery: Webhook["lastDelivery"] }) {
  if (!delivery) return <span className="muted">none yet</span>;
  const outcome = [delivery.lastStatus ? `HTTP ${delivery.lastStatus}` : undefined, delivery.lastError].filter(Boolean);
  return (
    <span data-testid="last-delivery" data-status={delivery.status} title={formatTime(delivery.at)}>
      <span className={`badge delivery ${delivery.status}`}>{delivery.status}</span>{" "}
      {[...outcome, `${delivery.attempts} attempt${delivery.attempts === 1 ? "" : "s"}`, ago(delivery.at)].join(" · ")}
    </span>
  );
}

/** The secret `create` answered, shown this once: copy it, then dismiss it for good. */
function NewSecret(props: { url: string; secret: string; onDone(): void }) {
  const [copied, setCopied] = useState<string | undefined>();
  const copy = () =>
    navigator.clipboard.writeText(props.secret).then(
      () => setCopied("Copied."),
      () => setCopied("Copying failed: select the secret and copy it by hand."),
    );
  return (
    <section className="card secret" aria-label="New webhook secret">
      <h3>Signing secret for {props.url}</h3>
      <p className="warning" role="note">
        This secret will not be shown again. Store it now: your receiver verifies each delivery&apos;s signature with it.
      </p>
      <div className="secret-row">
        {/* Focused as it appears, selected, ready to copy (keyboard users land on it too). */}
        <input readOnly autoFocus aria-label="Signing secret" value={props.secret} onFocus={(e) => e.target.select()} />
        <button type="button" onClick={() => void copy()}>
          Copy secret
        </button>
      </div>
      {copied && <p role="status">{copied}</p>}
      <button type="button" className="primary" onClick={props.onDone}>
        I have stored it
      </button>
    </section>
  );
}

function CreateWebhookForm(props: { onCreated(created: { url: string; secret: string }): void }) {
  const [url, setUrl] = useState("");
  const [description, setDescription] = useState("");
  const [events, setEvents] = useState<WebhookEventType[]>([]);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | undefined>();

  const toggle = (type: WebhookEventType, on: boolean) =>
    setEvents((now) => (on ? WEBHOOK_EVENT_TYPES.filter((t) => t === type || now.includes(t)) : now.filter((t) => t !== type)));

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      const created = await warden.api.admin.webhooks.create.mutate({
        url: url.trim(),
        events,
        ...(description.trim() ? { description } : {}),
      });
      props.onCreated({ url: url.trim(), secret: created.secret });
      setUrl("");
      setDescription("");
      setEvents([]);
    } catch (e) {
      setError(refusalOf(e, FIELDS));
    } finally {
      setBusy(false);
    }
  };

  return (
    <form className="card stack" onSubmit={submit} aria-label="Create a webhook" noValidate>
      <h3>New webhook</h3>
      <label>
        Endpoint URL
        <input
          name="url"
          type="url"
          placeholder="https://hooks.example.com/warden"
          value={url}
          onChange={(e) => setUrl(e.target.value)}
        />
      </label>
      <label>
        Description (optional)
        <input name="description" maxLength={200} value={description} onChange={(e) => setDescription(e.target.value)} />
      </label>
      <fieldset className="events">
        <legend>Events</legend>
        {WEBHOOK_EVENT_TYPES.map((type) => (
          <label key={type} className="check">
            <input type="checkbox" checked={events.includes(type)} onChange={(e) => toggle(type, e.target.checked)} />
            <code>{type}</code>
          </label>
        ))}
      </fieldset>
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      <button type="submit" className="primary" disabled={busy}>
        {busy ? "Creating…" : "Create webhook"}
      </button>
    </form>
  );
}

/** Signed webhooks: the list with each one's newest delivery, a form to add one, and test and delete behind a confirmation. */
export function WebhooksView() {
  const [webhooks, setWebhooks] = useState<Webhook[] | undefined>();
  const [error, setError] = useState<string | undefined>();
  const [notice, setNotice] = useState<string | undefined>();
  const [secret, setSecret] = useState<{ url: string; secret: string } | undefined>();
  const [confirm, setConfirm] = useState<Pending | undefined>();

  const load = useCallback(
    () =>
      warden.api.admin.webhooks.list.query().then(
        (list) => {
          setWebhooks(list);
          setError(undefined);
        },
        (e: unknown) => setError(messageOf(e)),
      ),
    [],
  );
  useEffect(() => {
    void load();
    const timer = setInterval(() => void load(), REFRESH_MS);
    return () => clearInterval(timer);
  }, [load]);

  const act = async () => {
    if (!confirm) return;
    const { kind, webhook } = confirm;
    try {
      if (kind === "test") {
        const { deliveryId } = await warden.api.admin.webhooks.test.mutate({ id: webhook.id });
        setNotice(`Test delivery ${deliveryId} queued for ${webhook.url}.`);
      } else {
        await warden.api.admin.webhooks.delete.mutate({ id: webhook.id });
        setNotice(`Webhook to ${webhook.url} deleted.`);
      }
    } catch (e) {
      throw new Error(messageOf(e), { cause: e });
    }
    setConfirm(undefined);
    await load();
  };

  return (
    <section>
      <h2>Webhooks</h2>
      <p className="muted">
        The admin worker POSTs each subscribed event to the endpoint, signed as Standard Webhooks specifies, and retries with
        backoff until it answers 2xx.
      </p>
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      {notice && (
        <p className="success" role="status" data-testid="webhook-notice">
          {notice}
        </p>
      )}
      <table className="stack" data-testid="webhooks" aria-busy={!webhooks}>
        <thead>
          <tr>
            <th>Endpoint</th>
            <th>Events</th>
            <th>Last delivery</th>
            <th>Created</th>
            <th>
              <span className="visually-hidden">Actions</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {webhooks?.length === 0 && (
            <tr>
              <td colSpan={5} className="muted empty">
                No webhooks yet.
              </td>
            </tr>
          )}
          {webhooks?.map((w) => (
            <tr key={w.id} data-webhook-id={w.id}>
              <td data-label="Endpoint" className="endpoint">
                {/* One element per cell: on phones each cell is a two-column grid (label, value). */}
                <div>
                  <code>{w.url}</code>
                  {w.description && <div className="muted">{w.description}</div>}
                </div>
              </td>
              <td data-label="Events">{w.events.join(", ")}</td>
              <td data-label="Last delivery">
                <LastDelivery delivery={w.lastDelivery} />
              </td>
              <td data-label="Created">{formatTime(w.createdAt)}</td>
              <td className="row-actions">
                <button className="small" onClick={() => setConfirm({ kind: "test", webhook: w })}>
                  Send test…
                </button>{" "}
                <button className="small danger" onClick={() => setConfirm({ kind: "delete", webhook: w })}>
                  Delete…
                </button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {secret && <NewSecret {...secret} onDone={() => setSecret(undefined)} />}
      <CreateWebhookForm
        onCreated={(created) => {
          setNotice(undefined);
          setSecret(created);
          void load();
        }}
      />
      {confirm && (
        <ConfirmDialog
          withReason={false}
          title={
            confirm.kind === "test"
              ? `Send a test delivery to ${confirm.webhook.url}?`
              : `Delete the webhook to ${confirm.webhook.url}?`
          }
          description={
            confirm.kind === "test"
              ? "A webhook.test event, signed like every delivery, whatever this webhook subscribes to."
              : "No further deliveries are sent to it, pending ones included. Its secret is gone for good."
          }
          confirmLabel={confirm.kind === "test" ? "Send test" : "Delete webhook"}
          tone={confirm.kind === "test" ? "primary" : "danger"}
          onConfirm={act}
          onCancel={() => setConfirm(undefined)}
        />
      )}
    </section>
  );
}
