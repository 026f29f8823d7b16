-- Exact user totals without counting rows (see ../../postgres/2026-11-30-000009_user_counts/up.sql
-- for why): the same table, kept by triggers in the transaction that changes `users`. SQLite has
-- one writer at a time, so there is nothing to spread: one slot (0), and row triggers (SQLite has
-- no statement triggers). A change of status is counted only when the status really changes.
-- SQLite dialect; keep the table identical to the Postgres one.

CREATE TABLE user_counts (
    slot     INTEGER PRIMARY KEY NOT NULL CHECK (slot >= 0 AND slot < 16),
    active   BIGINT NOT NULL DEFAULT 0,
    locked   BIGINT NOT NULL DEFAULT 0,
    disabled BIGINT NOT NULL DEFAULT 0
);

INSERT INTO user_counts (slot, active, locked, disabled) VALUES (
    0,
    (SELECT count(*) FROM users WHERE status = 'active'),
    (SELECT count(*) FROM users WHERE status = 'locked'),
    (SELECT count(*) FROM users WHERE status = 'disabled')
);

CREATE TRIGGER users_inserted_counted AFTER INSERT ON users
BEGIN
    UPDATE user_counts SET
        active   = active + (NEW.status = 'active'),
        locked   = locked + (NEW.status = 'locked'),
        disabled = disabled + (NEW.status = 'disabled')
    WHERE slot = 0;
END;

CREATE TRIGGER users_deleted_counted AFTER DELETE ON users
BEGIN
    UPDATE user_counts SET
        active   = active - (OLD.status = 'active'),
        locked   = locked - (OLD.status = 'locked'),
        disabled = disabled - (OLD.status = 'disabled')
    WHERE slot = 0;
END;

CREATE TRIGGER users_status_counted AFTER UPDATE OF status ON users
WHEN OLD.status IS NOT NEW.status
BEGIN
    UPDATE user_counts SET
        active   = active + (NEW.status = 'active') - (OLD.status = 'active'),
        locked   = locked + (NEW.status = 'locked') - (OLD.status = 'locked'),
        disabled = disabled + (NEW.status = 'disabled') - (OLD.status = 'disabled')
    WHERE slot = 0;
END;

-- The dashboard counts a lock whose time ran out as active: the few locked rows, by the end of
-- their lock, without reading the others.
CREATE INDEX users_locked_until ON users (locked_until) WHERE status = 'locked';
