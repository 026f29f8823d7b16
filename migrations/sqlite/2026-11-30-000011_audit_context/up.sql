-- Audit events say what kind of party acted and which request caused them; the dashboard
-- counts events of one action per hour. SQLite dialect; keep it identical in meaning to
-- ../../postgres/2026-11-30-000011_audit_context/up.sql.

-- user | service_account | system | anonymous (gatehouse_identity::ActorKind). Events written
-- before this migration are classified from their stored actor as the server classifies new
-- ones: `user:ID` or a bare user id (a UUID) is a user, `client:ID` a service account, no
-- actor anonymous, any other name (`bootstrap`, `cli`) the system.
ALTER TABLE audit_events ADD COLUMN actor_kind TEXT NOT NULL DEFAULT 'anonymous';
UPDATE audit_events SET actor_kind = CASE
    WHEN actor IS NULL THEN 'anonymous'
    WHEN actor LIKE 'user:%' THEN 'user'
    WHEN actor LIKE 'client:%' THEN 'service_account'
    WHEN length(actor) = 36 AND actor LIKE '________-____-____-____-____________' THEN 'user'
    ELSE 'system'
END;

-- The `x-request-id` of the request that caused the event (none for background jobs, the CLI
-- and events written before this migration).
ALTER TABLE audit_events ADD COLUMN request_id TEXT;

-- The dashboard's hourly series: one action over a time range, answered from the index alone.
CREATE INDEX audit_events_action_time_idx ON audit_events (action, occurred_at);
