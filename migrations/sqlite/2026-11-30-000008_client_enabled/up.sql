-- Administration of clients: a client an administrator disabled is refused at /authorize and
-- /token and its tokens stop passing introspection, without deleting its registration; and the
-- index the admin API's client list pages by. SQLite dialect; keep it identical to
-- ../../postgres/2026-11-30-000008_client_enabled/up.sql.

ALTER TABLE clients ADD COLUMN enabled BOOLEAN NOT NULL DEFAULT TRUE;

-- The admin API lists clients by lower(name), then client_id, paged by that key.
CREATE INDEX clients_lower_name_idx ON clients (lower(name), client_id);
