DROP INDEX clients_lower_name_idx;
ALTER TABLE clients DROP COLUMN enabled;
