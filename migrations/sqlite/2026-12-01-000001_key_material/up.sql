-- See ../../postgres/2026-12-01-000001_key_material/up.sql. SQLite dialect; keep the table
-- identical to the Postgres one.
CREATE TABLE key_material (
    name       TEXT PRIMARY KEY NOT NULL,
    sealed     TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
