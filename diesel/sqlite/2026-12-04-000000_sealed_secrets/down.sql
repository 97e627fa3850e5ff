-- Sealed secrets cannot be opened in SQL: after this, only rows still in plain text (never
-- sealed) are usable access keys; make new keys for the others.
ALTER TABLE access_keys DROP COLUMN secret_key_id;
ALTER TABLE access_keys RENAME COLUMN secret_sealed TO secret_access_key;
