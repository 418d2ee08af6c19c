import type { AddressInfo } from "node:net";
import { simpleParser } from "mailparser";
import { SMTPServer } from "smtp-server";

/** One message as it arrived over SMTP, parsed. */
export interface ReceivedMail {
  from: string;
  to: string[];
  subject: string;
  text: string;
  html: string;
  /** Every http(s) URL in the plain-text body, in order. */
  links: string[];
}

export interface Mailbox {
  /** `smtp://127.0.0.1:<port>`: what SMTP_URL takes. */
  url: string;
  messages: ReceivedMail[];
  /** The first message (arrived or arriving) that matches, or a rejection after `timeoutMs`. */
  waitFor(match: (mail: ReceivedMail) => boolean, timeoutMs?: number): Promise<ReceivedMail>;
  close(): Promise<void>;
}

const LINK = /https?:\/\/[^\s<>"]+/g;

/**
 * A real SMTP server on loopback that keeps what it receives: the development mailbox of `pnpm
 * start` (which prints each message) and the mail server of tests. Accepts any sender and
 * recipient, no TLS, no authentication: never expose it.
 */
export async function startMailbox(
  options: {
    port?: number;
    onMessage?: (mail: ReceivedMail) => void;
    /** Refuse every message with this temporary (451) error instead: an SMTP server in trouble. */
    refuseWith?: string;
  } = {},
): Promise<Mailbox> {
  const messages: ReceivedMail[] = [];
  const waiters = new Set<{ match: (mail: ReceivedMail) => boolean; resolve: (mail: ReceivedMail) => void }>();
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ["STARTTLS", "AUTH"],
    logger: false,
    onMailFrom(_address, _session, callback) {
      if (!options.refuseWith) return callback();
      callback(Object.assign(new Error(options.refuseWith), { responseCode: 451 }));
    },
    onData(stream, session, callback) {
      simpleParser(stream).then(
        (parsed) => {
          const text = parsed.text ?? "";
          const mail: ReceivedMail = {
            from: session.envelope.mailFrom ? session.envelope.mailFrom.address : "",
            to: session.envelope.rcptTo.map((r) => r.address),
            subject: parsed.subject ?? "",
            text,
            html: typeof parsed.html === "string" ? parsed.html : "",
            links: text.match(LINK) ?? [],
          };
          messages.push(mail);
          options.onMessage?.(mail);
          for (const waiter of waiters) {
            if (waiter.match(mail)) {
              waiters.delete(waiter);
              waiter.resolve(mail);
            }
          }
          callback();
        },
        (error: Error) => callback(error),
      );
    },
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, "127.0.0.1", () => resolve());
  });
  server.on("error", () => {});
  const { port } = (server as unknown as { server: { address(): AddressInfo } }).server.address();
  return {
    url: `smtp://127.0.0.1:${port}`,
    messages,
    waitFor(match, timeoutMs = 20_000) {
      const found = messages.find(match);
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const waiter = {
          match,
          resolve: (mail: ReceivedMail) => {
            clearTimeout(timer);
            resolve(mail);
          },
        };
        const timer = setTimeout(() => {
          waiters.delete(waiter);
          reject(new Error(`no matching email within ${timeoutMs} ms (${messages.length} received)`));
        }, timeoutMs);
        waiters.add(waiter);
      });
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** The token in a link of a Warden email (`...#token=<token>`). */
export function tokenOfLink(link: string): string {
  const token = new URL(link).hash
    .replace(/^#/, "")
    .split("&")
    .find((part) => part.startsWith("token="));
  if (!token) throw new Error(`no token in ${link}`);
  return decodeURIComponent(token.slice("token=".length));
}
