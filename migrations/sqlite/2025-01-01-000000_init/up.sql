-- Gatehouse identity schema, SQLite dialect. Keep it column-for-column identical to
-- ../../postgres/2025-01-01-000000_init/up.sql: one `schema.rs` and one query code serve both.
--
-- Ids are TEXT holding a hyphenated UUID (Postgres' `uuid` type is not used there either, so
-- that the schema is the same for both backends). Timestamps are TIMESTAMP holding UTC, which
-- Diesel stores as ISO-8601 text here. JSON is TEXT.
-- Foreign keys are only enforced because every connection runs `PRAGMA foreign_keys=ON`.

CREATE TABLE users (
    id                       TEXT PRIMARY KEY NOT NULL,
    username                 TEXT NOT NULL,
    email                    TEXT NOT NULL,
    email_verified           BOOLEAN NOT NULL DEFAULT FALSE CHECK (email_verified IN (0, 1)),
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
-- SQLite's lower() folds ASCII only; usernames are ASCII by validation.
CREATE UNIQUE INDEX users_username_lower_key ON users (lower(username));
CREATE UNIQUE INDEX users_email_lower_key ON users (lower(email));

CREATE TABLE roles (
    id          TEXT PRIMARY KEY NOT NULL,
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
    id          INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
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
