DROP TABLE audit_events;
DROP TABLE user_roles;
DROP TABLE roles;
DROP TABLE users;
