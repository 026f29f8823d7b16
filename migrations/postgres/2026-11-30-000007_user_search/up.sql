-- The admin API's user search: a case-insensitive prefix of the username or the email
-- (`lower(col) LIKE lower($1) ESCAPE '\'` with a `prefix%` pattern). Postgres uses a b-tree for
-- LIKE only with the pattern operator class (or the C collation): the unique indexes on
-- lower(username) and lower(email) follow the database's collation, so they serve equality and
-- the list's order but not prefixes. Postgres dialect; the SQLite migration of the same name has
-- no index of its own (see there).
CREATE INDEX users_username_pattern_idx ON users (lower(username) text_pattern_ops);
CREATE INDEX users_email_pattern_idx ON users (lower(email) text_pattern_ops);
