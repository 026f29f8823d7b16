-- The TOTP second factor (RFC 6238) and its single-use recovery codes. Postgres dialect; keep it
-- column-for-column identical to ../../sqlite/2026-11-30-000001_totp/up.sql.

CREATE TABLE totp_credentials (
    user_id        TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    -- The shared secret sealed (AES-256-GCM, JWE compact) under a key derived from the master
    -- key, bound to the user; never plaintext.
    secret_sealed  TEXT NOT NULL,
    -- Each credential keeps the parameters it was enrolled with, so a change of the defaults
    -- for new enrolments never breaks an authenticator already enrolled.
    algorithm      TEXT NOT NULL CHECK (algorithm IN ('SHA1', 'SHA256', 'SHA512')),
    digits         INTEGER NOT NULL CHECK (digits BETWEEN 6 AND 8),
    -- The time step in seconds (RFC 6238 §4.1, X).
    period         INTEGER NOT NULL CHECK (period BETWEEN 1 AND 300),
    -- The last time step a code was accepted for: only later steps are (RFC 6238 §5.2).
    last_used_step BIGINT CHECK (last_used_step >= 0),
    -- NULL while enrolment is pending: a pending credential protects nothing yet.
    confirmed_at   TIMESTAMP,
    created_at     TIMESTAMP NOT NULL
);

CREATE TABLE recovery_codes (
    id         BIGSERIAL PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- "hmac-sha256$<base64url>" of the user id and the code; never the code itself.
    code_hash  TEXT NOT NULL,
    used_at    TIMESTAMP,
    created_at TIMESTAMP NOT NULL
);

-- Lookups are by user and hash; the user's codes are deleted and counted through it too.
CREATE UNIQUE INDEX recovery_codes_user_code_key ON recovery_codes (user_id, code_hash);
