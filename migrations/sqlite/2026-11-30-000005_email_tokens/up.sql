-- Single-use tokens sent by mail: address verification links (with their short code) and
-- password reset links. SQLite dialect; keep it column-for-column identical to
-- ../../postgres/2026-11-30-000005_email_tokens/up.sql.

CREATE TABLE email_tokens (
    id          INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    user_id     TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- verify_email or password_reset.
    purpose     TEXT NOT NULL,
    -- SHA-256 (base64url) of the link's token; never the token itself.
    token_hash  TEXT NOT NULL,
    -- Verification only: SHA-256 of the token hash and the short code typed instead of clicking.
    code_hash   TEXT,
    -- The address the mail went to: for a verification, the address it verifies (a new address
    -- stays pending here until then; the account keeps using its current one).
    email       TEXT NOT NULL,
    -- Wrong codes (short code or second factor) spent on this token; it dies at the limit.
    attempts    INTEGER NOT NULL DEFAULT 0,
    created_at  TIMESTAMP NOT NULL,
    expires_at  TIMESTAMP NOT NULL,
    -- When it was used; a used link answers "already done", not "invalid".
    used_at     TIMESTAMP,
    -- When a newer token of the same purpose (or too many wrong codes) killed it.
    revoked_at  TIMESTAMP
);

CREATE UNIQUE INDEX email_tokens_token_hash_key ON email_tokens (token_hash);
CREATE INDEX email_tokens_user_purpose ON email_tokens (user_id, purpose);
