ALTER TABLE "outbox_events" ADD COLUMN "seq" bigserial NOT NULL;--> statement-breakpoint
CREATE INDEX "users_tokens_not_before_idx" ON "users" USING btree ("tokens_not_before") WHERE "users"."tokens_not_before" is not null;--> statement-breakpoint
CREATE INDEX "sessions_revoked_at_idx" ON "sessions" USING btree ("revoked_at") WHERE "sessions"."revoked_at" is not null;--> statement-breakpoint
CREATE INDEX "outbox_events_applied_seq_idx" ON "outbox_events" USING btree ("seq") WHERE "outbox_events"."applied_at" is not null;