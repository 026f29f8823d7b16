-- Client metadata of OpenID Connect Back-Channel Logout 1.0 §2.2, and whether the client
-- demands a second factor of its users (read by step-up authentication later). SQLite dialect;
-- keep it column-for-column identical to
-- ../../postgres/2026-11-30-000002_backchannel_logout/up.sql.

-- Where the OP POSTs logout tokens; NULL when the client registered none. The registration
-- rules (absolute https URI, http only on loopback, no fragment) are the application's.
ALTER TABLE clients ADD COLUMN backchannel_logout_uri TEXT;
-- §2.2: the client needs `sid` in every logout token.
ALTER TABLE clients ADD COLUMN backchannel_logout_session_required BOOLEAN NOT NULL DEFAULT FALSE
    CHECK (backchannel_logout_session_required IN (0, 1));
ALTER TABLE clients ADD COLUMN require_2fa BOOLEAN NOT NULL DEFAULT FALSE
    CHECK (require_2fa IN (0, 1));
