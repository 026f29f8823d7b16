DROP INDEX users_locked_until;
DROP TRIGGER users_status_counted;
DROP TRIGGER users_deleted_counted;
DROP TRIGGER users_inserted_counted;
DROP TABLE user_counts;
