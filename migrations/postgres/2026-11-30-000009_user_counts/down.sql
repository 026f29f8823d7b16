DROP INDEX users_locked_until;
DROP TRIGGER users_truncated_counted ON users;
DROP TRIGGER users_status_counted ON users;
DROP TRIGGER users_deleted_counted ON users;
DROP TRIGGER users_inserted_counted ON users;
DROP FUNCTION user_counts_reset();
DROP FUNCTION user_counts_move_status();
DROP FUNCTION user_counts_add_changed();
DROP TABLE user_counts;
