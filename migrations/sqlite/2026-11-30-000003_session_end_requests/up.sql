-- A durable outbox of "end every session of this user" requests. Processes that cannot reach the
-- session store (the `gatehouse` command line, while the embedded server keeps its sessions in
-- memory) write a row; every server instance polls the table, claims due rows and ends the
-- sessions. SQLite dialect; keep it column-for-column identical to
-- ../../postgres/2026-11-30-000003_session_end_requests/up.sql.

CREATE TABLE session_end_requests (
    id           INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    -- No foreign key on purpose: a request outlives its user, whose sessions still have to end
    -- when the account is deleted before an instance got to it.
    user_id      TEXT NOT NULL,
    -- Why (a stable name such as "second_factor_reset"), for the log.
    reason       TEXT NOT NULL,
    -- Who asked ("cli"); becomes the actor of the audit event of the sessions' end.
    requested_by TEXT,
    requested_at TIMESTAMP NOT NULL,
    -- Set by the instance that claimed the request; another may claim it again once the lease
    -- (measured from this time) ran out without the request being completed (deleted).
    claimed_at   TIMESTAMP,
    -- A random token per claim, by which the claimer reads back the rows it claimed.
    claim_token  TEXT
);

CREATE INDEX session_end_requests_claim_token ON session_end_requests (claim_token);
