DROP TABLE access_keys;
DROP TABLE accounts;
