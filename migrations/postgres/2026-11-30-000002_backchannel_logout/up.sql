-- Client metadata of OpenID Connect Back-Channel Logout 1.0 §2.2, and whether the client
-- demands a second factor of its users (read by step-up authentication later). Postgres dialect;
-- keep it column-for-column identical to ../../sqlite/2026-11-30-000002_backchannel_logout/up.sql.

-- Where the OP POSTs logout tokens; NULL when the client registered none. The registration
-- rules (absolute https URI, http only on loopback, no fragment) are the application's.
ALTER TABLE clients ADD COLUMN backchannel_logout_uri TEXT;
-- §2.2: the client needs `sid` in every logout token.
ALTER TABLE clients ADD COLUMN backchannel_logout_session_required BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE clients ADD COLUMN require_2fa BOOLEAN NOT NULL DEFAULT FALSE;
