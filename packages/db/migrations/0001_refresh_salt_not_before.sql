ALTER TABLE "users" ADD COLUMN "tokens_not_before" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "refresh_tokens" ADD COLUMN "successor_salt" text;