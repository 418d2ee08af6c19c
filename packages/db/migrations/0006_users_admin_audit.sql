DROP INDEX "audit_log_user_id_index";--> statement-breakpoint
ALTER TABLE "audit_log" ALTER COLUMN "event_id" DROP NOT NULL;--> statement-breakpoint
ALTER TABLE "users" ADD COLUMN "deleted_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "audit_log" ADD COLUMN "ip" text;--> statement-breakpoint
ALTER TABLE "audit_log" ADD COLUMN "user_agent" text;--> statement-breakpoint
ALTER TABLE "outbox_events" ADD COLUMN "ip" text;--> statement-breakpoint
ALTER TABLE "outbox_events" ADD COLUMN "user_agent" text;--> statement-breakpoint
CREATE INDEX "users_created_at_id_index" ON "users" USING btree ("created_at","id");--> statement-breakpoint
CREATE INDEX "audit_log_user_id_id_index" ON "audit_log" USING btree ("user_id","id");--> statement-breakpoint
CREATE INDEX "audit_log_type_id_index" ON "audit_log" USING btree ("type","id");--> statement-breakpoint
CREATE INDEX "audit_log_occurred_at_index" ON "audit_log" USING btree ("occurred_at");--> statement-breakpoint
CREATE INDEX "audit_log_admin_actor_idx" ON "audit_log" USING btree ("actor_id") WHERE "audit_log"."actor_type" = 'admin';--> statement-breakpoint
CREATE INDEX "outbox_events_client_idx" ON "outbox_events" USING btree ("id") WHERE "outbox_events"."ip" is not null or "outbox_events"."user_agent" is not null;