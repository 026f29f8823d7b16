-- Values sealed directly under the master key, other than signing keys. Today one row,
-- `derivation_root`: the 32 bytes every derived server secret (TOTP sealing, recovery-code and
-- client-secret hashing, code and refresh-token MACs) comes from. It is the master key of the
-- deployment's first start, sealed under the current master key, so that `gatehouse keys
-- rewrap` changes the master key by re-sealing this row and the signing keys, and nothing
-- derived changes. Reading it at start-up is also the check that an instance has the master
-- key the database was sealed under.
CREATE TABLE key_material (
    name       TEXT PRIMARY KEY,
    sealed     TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
