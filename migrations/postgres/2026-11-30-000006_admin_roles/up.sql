-- Administration: the narrower roles beside admin, roles for service accounts (clients using the
-- client_credentials grant), and the indexes the audit log's filters use. Postgres dialect; keep
-- it identical to ../../sqlite/2026-11-30-000006_admin_roles/up.sql.

INSERT INTO roles (id, description) VALUES
    ('user_admin', 'Manages users, their sessions, credentials and roles other than admin'),
    ('client_admin', 'Manages OAuth clients'),
    ('auditor', 'Reads everything, including the audit log; changes nothing');

CREATE TABLE client_roles (
    client_id TEXT NOT NULL REFERENCES clients (client_id) ON DELETE CASCADE,
    role      TEXT NOT NULL REFERENCES roles (id),
    PRIMARY KEY (client_id, role)
);

-- The console filters by actor, target or action, newest first (occurred_at alone and target
-- alone have their indexes since the first release; this one supersedes the target one).
CREATE INDEX audit_events_actor_idx ON audit_events (actor, id);
CREATE INDEX audit_events_target_id_idx ON audit_events (target, id);
CREATE INDEX audit_events_action_idx ON audit_events (action, id);
