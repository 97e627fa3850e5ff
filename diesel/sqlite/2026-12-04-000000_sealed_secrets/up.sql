-- Access key secrets are sealed (AES-256-GCM) under a key kept outside the database: the key
-- file in the data directory, or EC2GW_SECRET_KEY. `secret_key_id` names the key that sealed
-- the row, so several keys may be in use while a rotation re-seals every row under a new one.
-- Rows from before this migration keep their secret in plain text (secret_key_id NULL) until
-- `ec2gw serve` seals them at start-up: SQL cannot, as the key is not in the database.
ALTER TABLE access_keys RENAME COLUMN secret_access_key TO secret_sealed;
ALTER TABLE access_keys ADD COLUMN secret_key_id TEXT;
