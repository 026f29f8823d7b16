DROP INDEX audit_events_org_idx;
ALTER TABLE audit_events DROP COLUMN org_id;
ALTER TABLE clients DROP COLUMN allow_impersonation;
ALTER TABLE clients DROP COLUMN exchange_audiences;
ALTER TABLE clients DROP COLUMN resources;
DROP INDEX clients_org_idx;
ALTER TABLE clients DROP COLUMN org_id;
DROP TABLE organization_members;
DROP TABLE organizations;
