DROP INDEX audit_events_action_time_idx;
ALTER TABLE audit_events DROP COLUMN request_id;
ALTER TABLE audit_events DROP COLUMN actor_kind;
