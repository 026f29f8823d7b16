-- The admin API's user search (see ../../postgres/2026-11-30-000007_user_search/up.sql). SQLite
-- needs no new index: the unique indexes on lower(username) and lower(email) from the first
-- migration (users_username_lower_key, users_email_lower_key) are plain b-trees in binary order,
-- which is the order a prefix range needs. (SQLite's own LIKE optimisation does not apply to an
-- expression with an ESCAPE clause, so an SQLite search reads the table; SQLite deployments are
-- the small ones.) This migration exists so that both backends list the same migrations.
SELECT 1;
