-- The mail outbox: a mail is a row written in the same transaction as the change that causes it,
-- and a server instance's worker sends it with retries. Postgres dialect; keep it column-for-column
-- identical to ../../sqlite/2026-11-30-000004_mail_outbox/up.sql.

CREATE TABLE mail_outbox (
    id              BIGSERIAL PRIMARY KEY,
    -- The rendered message; the From is the sender's configuration.
    recipient       TEXT NOT NULL,
    subject         TEXT NOT NULL,
    text_body       TEXT NOT NULL,
    html_body       TEXT NOT NULL,
    -- Generated once, so every attempt sends the same Message-ID.
    message_id      TEXT NOT NULL,
    -- pending, sent or dead (gave up after the last attempt).
    status          TEXT NOT NULL,
    -- Failed attempts so far.
    attempts        INTEGER NOT NULL DEFAULT 0,
    created_at      TIMESTAMP NOT NULL,
    -- A pending mail is not sent before this (now, or the backoff after a failure).
    next_attempt_at TIMESTAMP NOT NULL,
    -- Set by the instance sending it; another may claim it again once the lease (measured from
    -- this time) ran out without the mail being marked sent or failed.
    claimed_at      TIMESTAMP,
    -- A random token per claim: the claimer reads back its rows by it, and only the current
    -- claimer can mark the mail.
    claim_token     TEXT,
    sent_at         TIMESTAMP,
    -- Why the last attempt failed, for the operator.
    last_error      TEXT
);

CREATE INDEX mail_outbox_due ON mail_outbox (status, next_attempt_at);
CREATE INDEX mail_outbox_claim_token ON mail_outbox (claim_token);
