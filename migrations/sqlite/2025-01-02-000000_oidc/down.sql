DROP TABLE signing_keys;
DROP TABLE consents;
DROP TABLE clients;
