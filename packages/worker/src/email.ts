import { emailRecipient, liveOneTimeToken, PURPOSE_OF_EMAIL } from "@warden/auth";
import { emailJob, type EmailJob, type EmailKind } from "@warden/contracts";
import type { Database } from "@warden/db";
import { UnrecoverableError } from "bullmq";
import nodemailer from "nodemailer";

export interface EmailSettings {
  /** SMTP_URL: `smtp://user:pass@host:587` or `smtps://...`. */
  smtpUrl: string;
  /** MAIL_FROM: `Warden <no-reply@example.com>`. */
  from: string;
  /** PUBLIC_URL: where the console's pages are, the base of every link. */
  publicUrl: string;
}

export type EmailOutcome = "sent" | "superseded" | "not_applicable";

/** The page of the console each kind of email links to; the token travels in the fragment, which no server logs. */
const PAGE: Record<EmailKind, string> = {
  password_reset: "reset-password",
  email_verification: "verify-email",
};

/** A link of an email: PUBLIC_URL/console/<page>#token=<token>. */
function emailLink(publicUrl: string, kind: EmailKind, token: string): string {
  return `${publicUrl.replace(/\/+$/, "")}/console/${PAGE[kind]}#token=${token}`;
}

const escapeHtml = (text: string) =>
  text.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);

/** Subject, plain text and HTML of an email. */
function composeEmail(kind: EmailKind, link: string): { subject: string; text: string; html: string } {
  const { subject, intro, action, outro } =
    kind === "password_reset"
      ? {
          subject: "Reset your password",
          intro: "Someone (hopefully you) asked to reset the password of your account.",
          action: "Choose a new password",
          outro:
            "The link works once, for 30 minutes. If you did not ask for it, ignore this email: your password stays as it is.",
        }
      : {
          subject: "Confirm your email address",
          intro: "Confirm that this address belongs to your account.",
          action: "Confirm the address",
          outro: "The link works once, for 24 hours. If you did not sign up, ignore this email.",
        };
  const text = `${intro}\n\n${action}:\n${link}\n\n${outro}\n`;
  const html = `<p>${escapeHtml(intro)}</p>\n<p><a href="${escapeHtml(link)}">${escapeHtml(action)}</a></p>\n<p>${escapeHtml(outro)}</p>\n`;
  return { subject, text, html };
}

export interface EmailSender {
  /** Processes one email job: sends the email, or nothing when its link no longer works. */
  process(data: unknown): Promise<EmailOutcome>;
  close(): void;
}

/**
 * Sends the emails of `email.requested` events. The job carries ids only; the link's token is
 * rebuilt from the event id with the data key and sent only while it is the user's live token (a
 * newer request, a use or an expiry makes the job a no-op). A reset is not sent to a locked
 * account, a verification not to a verified one. SMTP errors throw: BullMQ retries with backoff.
 */
export function createEmailSender(db: Database, oneTimeKeys: readonly Buffer[], settings: EmailSettings): EmailSender {
  const url = new URL(settings.smtpUrl);
  const secure = url.protocol === "smtps:";
  const transport = nodemailer.createTransport({
    host: url.hostname,
    port: url.port ? Number(url.port) : secure ? 465 : 587,
    secure,
    ...(url.username ? { auth: { user: decodeURIComponent(url.username), pass: decodeURIComponent(url.password) } } : {}),
    // A stuck SMTP server fails the attempt (retried later) instead of holding a worker slot.
    connectionTimeout: 10_000,
    greetingTimeout: 10_000,
    socketTimeout: 20_000,
  });
  return {
    async process(data) {
      const parsed = emailJob.safeParse(data);
      if (!parsed.success) throw new UnrecoverableError(`malformed email job: ${parsed.error.issues[0]?.message ?? "invalid"}`);
      const job: EmailJob = parsed.data;
      const user = await emailRecipient(db, job.userId);
      if (!user) return "not_applicable";
      if (job.kind === "password_reset" && user.locked) return "not_applicable";
      if (job.kind === "email_verification" && user.emailVerified) return "not_applicable";
      const token = await liveOneTimeToken(
        db,
        oneTimeKeys,
        { eventId: job.eventId, userId: job.userId, purpose: PURPOSE_OF_EMAIL[job.kind] },
        Date.now(),
      );
      if (!token) return "superseded";
      const message = composeEmail(job.kind, emailLink(settings.publicUrl, job.kind, token));
      await transport.sendMail({ from: settings.from, to: user.email, ...message });
      return "sent";
    },
    close: () => transport.close(),
  };
}
