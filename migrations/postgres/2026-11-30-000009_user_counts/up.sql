-- Exact user totals without counting rows: the admin API's list answers `total` for "all users"
-- and for "users with status S" from these counters instead of count(*), which reads every
-- row of `users` (or every entry of an index: ~0.15-0.25 s at a million users, and an
-- index-only scan needs a fresh visibility map, i.e. autovacuum keeping up). Filters with a
-- search or a role still count rows: their indexes make that cheap.
--
-- Exact, never drifting: triggers keep the counters in the same transaction as the change of
-- `users`, so a rolled-back sign-up never counted and a reader's snapshot sees the counters
-- and the rows agree. Every path into `users` (the server, the CLI, hand-written SQL,
-- TRUNCATE) goes through them.
--
-- No hot row: sign-ups commit in parallel, and one counter row would make them queue on its
-- lock until each commits. The counts are spread over 16 slots, each transaction adding to the
-- slot of its own backend (pg_backend_pid() % 16): concurrent writers rarely meet, and one
-- transaction only ever locks one counter row, so counters add no lock-order deadlock. A
-- reader sums the 16 rows. One row per slot holds every status, so a change of status is one
-- row update.
--
-- Inserts and deletes are counted once per statement (transition tables), so a bulk insert of
-- a million rows updates a counter once, not a million times; a change of status is counted per
-- row, and only when the status really changes (the WHEN clause is checked before any function
-- is called, so the frequent updates of login state, timestamps and so on cost nothing).
--
-- Postgres dialect; the SQLite migration of the same name keeps the same table with the same
-- columns (one slot: SQLite has one writer at a time).

-- No writes to `users` between counting the existing rows and the triggers taking over.
LOCK TABLE users IN SHARE ROW EXCLUSIVE MODE;

CREATE TABLE user_counts (
    slot     INTEGER PRIMARY KEY CHECK (slot >= 0 AND slot < 16),
    active   BIGINT NOT NULL DEFAULT 0,
    locked   BIGINT NOT NULL DEFAULT 0,
    disabled BIGINT NOT NULL DEFAULT 0
);

INSERT INTO user_counts (slot) SELECT generate_series(0, 15);
UPDATE user_counts SET
    active   = (SELECT count(*) FROM users WHERE status = 'active'),
    locked   = (SELECT count(*) FROM users WHERE status = 'locked'),
    disabled = (SELECT count(*) FROM users WHERE status = 'disabled')
WHERE slot = 0;

-- INSERT and DELETE statements: the rows they added or removed are in the transition table
-- `changed`.
CREATE FUNCTION user_counts_add_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    direction CONSTANT BIGINT := CASE TG_OP WHEN 'INSERT' THEN 1 ELSE -1 END;
BEGIN
    UPDATE user_counts SET
        active   = user_counts.active + direction * c.active,
        locked   = user_counts.locked + direction * c.locked,
        disabled = user_counts.disabled + direction * c.disabled
    FROM (
        SELECT count(*) FILTER (WHERE status = 'active') AS active,
               count(*) FILTER (WHERE status = 'locked') AS locked,
               count(*) FILTER (WHERE status = 'disabled') AS disabled
        FROM changed
    ) AS c
    -- A statement that changed no row (an INSERT .. ON CONFLICT DO NOTHING that conflicted)
    -- takes no counter lock.
    WHERE slot = pg_backend_pid() % 16 AND c.active + c.locked + c.disabled > 0;
    RETURN NULL;
END
$$;

CREATE TRIGGER users_inserted_counted AFTER INSERT ON users
    REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION user_counts_add_changed();

CREATE TRIGGER users_deleted_counted AFTER DELETE ON users
    REFERENCING OLD TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION user_counts_add_changed();

CREATE FUNCTION user_counts_move_status() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE user_counts SET
        active   = active + (NEW.status = 'active')::int - (OLD.status = 'active')::int,
        locked   = locked + (NEW.status = 'locked')::int - (OLD.status = 'locked')::int,
        disabled = disabled + (NEW.status = 'disabled')::int - (OLD.status = 'disabled')::int
    WHERE slot = pg_backend_pid() % 16;
    RETURN NULL;
END
$$;

CREATE TRIGGER users_status_counted AFTER UPDATE OF status ON users
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION user_counts_move_status();

CREATE FUNCTION user_counts_reset() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE user_counts SET active = 0, locked = 0, disabled = 0;
    RETURN NULL;
END
$$;

CREATE TRIGGER users_truncated_counted AFTER TRUNCATE ON users
    FOR EACH STATEMENT EXECUTE FUNCTION user_counts_reset();

-- The dashboard counts a lock whose time ran out as active: the few locked rows, by the end of
-- their lock, without reading the others.
CREATE INDEX users_locked_until ON users (locked_until) WHERE status = 'locked';
