DROP INDEX users_email_pattern_idx;
DROP INDEX users_username_pattern_idx;
