DROP INDEX audit_events_action_idx;
DROP INDEX audit_events_target_id_idx;
DROP INDEX audit_events_actor_idx;
DROP TABLE client_roles;
DELETE FROM user_roles WHERE role IN ('user_admin', 'client_admin', 'auditor');
DELETE FROM roles WHERE id IN ('user_admin', 'client_admin', 'auditor');
