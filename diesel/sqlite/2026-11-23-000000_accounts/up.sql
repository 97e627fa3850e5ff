-- Accounts own every resource; access keys sign requests on an account's behalf.
-- Times are RFC 3339 UTC strings with milliseconds, so they sort as they compare.
CREATE TABLE accounts (
    account_id TEXT PRIMARY KEY NOT NULL,
    created_at TEXT NOT NULL
);

CREATE TABLE access_keys (
    access_key_id TEXT PRIMARY KEY NOT NULL,
    account_id TEXT NOT NULL REFERENCES accounts (account_id) ON DELETE CASCADE,
    -- SigV4 needs the secret itself to recompute signatures, so it cannot be hashed.
    secret_access_key TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('Active', 'Inactive')),
    created_at TEXT NOT NULL
);

CREATE INDEX access_keys_by_account ON access_keys (account_id);
