-- Gatehouse identity schema, Postgres dialect. Keep it column-for-column identical to
-- ../../sqlite/2025-01-01-000000_init/up.sql: one `schema.rs` and one query code serve both.
--
-- Ids are TEXT holding a hyphenated UUID, not Postgres' native `uuid` type, because SQLite has
-- no such type and the schema must be the same for both backends.
-- Timestamps are TIMESTAMP (without time zone) holding UTC: the portable `Timestamp` SQL type.
-- JSON is TEXT for the same reason.

CREATE TABLE users (
    id                       TEXT PRIMARY KEY,
    username                 TEXT NOT NULL,
    email                    TEXT NOT NULL,
    email_verified           BOOLEAN NOT NULL DEFAULT FALSE,
    password_hash            TEXT NOT NULL,
    status                   TEXT NOT NULL DEFAULT 'active'
                             CHECK (status IN ('active', 'locked', 'disabled')),
    failed_logins            INTEGER NOT NULL DEFAULT 0 CHECK (failed_logins >= 0),
    failed_window_started_at TIMESTAMP,
    locked_until             TIMESTAMP,
    created_at               TIMESTAMP NOT NULL,
    updated_at               TIMESTAMP NOT NULL
);

-- Logins are case-insensitive; these indexes are the last word on uniqueness when two
-- registrations race. The application maps a violation back to the field by index name.
CREATE UNIQUE INDEX users_username_lower_key ON users (lower(username));
CREATE UNIQUE INDEX users_email_lower_key ON users (lower(email));

CREATE TABLE roles (
    id          TEXT PRIMARY KEY,
    description TEXT NOT NULL
);

INSERT INTO roles (id, description) VALUES ('admin', 'Administers Gatehouse: users, clients and keys');

CREATE TABLE user_roles (
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role    TEXT NOT NULL REFERENCES roles (id),
    PRIMARY KEY (user_id, role)
);

CREATE INDEX user_roles_role_idx ON user_roles (role);

CREATE TABLE audit_events (
    id          BIGSERIAL PRIMARY KEY,
    occurred_at TIMESTAMP NOT NULL,
    actor       TEXT,
    action      TEXT NOT NULL,
    target      TEXT,
    ip          TEXT,
    user_agent  TEXT,
    outcome     TEXT NOT NULL CHECK (outcome IN ('success', 'failure')),
    details     TEXT NOT NULL DEFAULT '{}'
);

CREATE INDEX audit_events_occurred_at_idx ON audit_events (occurred_at);
CREATE INDEX audit_events_target_idx ON audit_events (target);
