-- OAuth 2.0 clients, the consents users gave them, and the OIDC provider's signing keys.
-- SQLite dialect; keep it column-for-column identical to
-- ../../postgres/2025-01-02-000000_oidc/up.sql. Lists (URIs, grant types, scopes) are JSON arrays
-- of strings stored as TEXT, timestamps are TIMESTAMP holding UTC, as in the init migration.
-- Foreign keys are only enforced because every connection runs `PRAGMA foreign_keys=ON`.

CREATE TABLE clients (
    client_id                    TEXT PRIMARY KEY NOT NULL,
    name                         TEXT NOT NULL,
    client_type                  TEXT NOT NULL
                                 CHECK (client_type IN ('confidential', 'public')),
    -- "hmac-sha256$<base64url>"; never the secret itself.
    secret_hash                  TEXT,
    redirect_uris                TEXT NOT NULL DEFAULT '[]',
    post_logout_redirect_uris    TEXT NOT NULL DEFAULT '[]',
    grant_types                  TEXT NOT NULL DEFAULT '[]',
    scopes                       TEXT NOT NULL DEFAULT '[]',
    token_endpoint_auth_method   TEXT NOT NULL
                                 CHECK (token_endpoint_auth_method IN
                                        ('client_secret_basic', 'client_secret_post', 'none')),
    id_token_signed_response_alg TEXT NOT NULL DEFAULT 'RS256'
                                 CHECK (id_token_signed_response_alg IN ('RS256', 'ES256')),
    first_party                  BOOLEAN NOT NULL DEFAULT FALSE CHECK (first_party IN (0, 1)),
    created_at                   TIMESTAMP NOT NULL,
    updated_at                   TIMESTAMP NOT NULL,
    -- Confidential clients authenticate with a secret, public ones cannot (RFC 6749 §2.1).
    CONSTRAINT clients_secret_matches_type CHECK (
        (client_type = 'confidential' AND secret_hash IS NOT NULL
            AND token_endpoint_auth_method <> 'none')
        OR (client_type = 'public' AND secret_hash IS NULL
            AND token_endpoint_auth_method = 'none')
    )
);

CREATE TABLE consents (
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_id  TEXT NOT NULL REFERENCES clients (client_id) ON DELETE CASCADE,
    scopes     TEXT NOT NULL DEFAULT '[]',
    granted_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    PRIMARY KEY (user_id, client_id)
);

-- Deleting a client cascades through this.
CREATE INDEX consents_client_id_idx ON consents (client_id);

CREATE TABLE signing_keys (
    kid                TEXT PRIMARY KEY NOT NULL,
    alg                TEXT NOT NULL CHECK (alg IN ('RS256', 'ES256')),
    status             TEXT NOT NULL CHECK (status IN ('next', 'active', 'retired')),
    -- The private key encrypted under the server's key-encryption key; never plaintext.
    sealed_private_key TEXT NOT NULL,
    created_at         TIMESTAMP NOT NULL,
    activated_at       TIMESTAMP,
    -- A retired key stays in the JWKS until then, so tokens it signed still verify.
    published_until    TIMESTAMP
);

-- At most one active and one next key per algorithm: the last word when several server
-- instances bootstrap or rotate keys at once.
CREATE UNIQUE INDEX signing_keys_one_active_per_alg ON signing_keys (alg) WHERE status = 'active';
CREATE UNIQUE INDEX signing_keys_one_next_per_alg ON signing_keys (alg) WHERE status = 'next';
