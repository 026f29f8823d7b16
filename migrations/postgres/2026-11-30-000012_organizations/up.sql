-- Organisations ("vendors", partner organisations with their own users, clients and admins),
-- and what token exchange (RFC 8693) and resource indicators (RFC 8707) register per client.
-- Postgres dialect; keep it identical to ../../sqlite/2026-11-30-000012_organizations/up.sql.

CREATE TABLE organizations (
    id         TEXT PRIMARY KEY,
    slug       TEXT NOT NULL UNIQUE,
    name       TEXT NOT NULL,
    enabled    BOOLEAN NOT NULL DEFAULT TRUE,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

-- A user may belong to several organisations, each membership with one role.
CREATE TABLE organization_members (
    org_id     TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role       TEXT NOT NULL CHECK (role IN ('member', 'org_admin')),
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (org_id, user_id)
);
CREATE INDEX organization_members_user_idx ON organization_members (user_id, org_id);

-- A client belongs to at most one organisation. An organisation with clients cannot be deleted
-- (RESTRICT): a client silently becoming global would escape the organisation's isolation.
ALTER TABLE clients ADD COLUMN org_id TEXT REFERENCES organizations (id);
CREATE INDEX clients_org_idx ON clients (org_id, lower(name), client_id);

-- RFC 8707: the resources (API identifiers, absolute URIs) the client may ask tokens for.
ALTER TABLE clients ADD COLUMN resources TEXT NOT NULL DEFAULT '[]';
-- RFC 8693: the audiences (client ids or resource URIs) a token exchange may ask for; empty
-- for a client without the grant. Impersonation (no actor token) only when allowed.
ALTER TABLE clients ADD COLUMN exchange_audiences TEXT NOT NULL DEFAULT '[]';
ALTER TABLE clients ADD COLUMN allow_impersonation BOOLEAN NOT NULL DEFAULT FALSE;

-- The organisation an event happened in (an org admin's action, a sign-in to an organisation's
-- client), so that its org admins read its audit trail and nothing else.
ALTER TABLE audit_events ADD COLUMN org_id TEXT;
CREATE INDEX audit_events_org_idx ON audit_events (org_id, id);
