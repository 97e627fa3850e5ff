-- A secret shared by every gateway on this database, e.g. to sign pagination tokens.
CREATE TABLE gateway_secrets (
    name TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
);

-- Machine images. The EC2 id is the key (no mapping table); a deregistered image keeps its row
-- while instances may still run on its disk, but is never described again.
CREATE TABLE images (
    image_id TEXT PRIMARY KEY NOT NULL,
    owner_id TEXT NOT NULL REFERENCES accounts (account_id),
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    state TEXT NOT NULL,
    architecture TEXT NOT NULL,
    is_public BOOLEAN NOT NULL,
    root_device_name TEXT NOT NULL,
    size_gib INTEGER NOT NULL,
    disk_path TEXT NOT NULL,
    disk_format TEXT NOT NULL,
    disk_bytes BIGINT NOT NULL,
    sha256 TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX images_by_owner ON images (owner_id, image_id);
-- text_pattern_ops: under a non-C collation a plain index cannot serve LIKE 'prefix%'.
CREATE INDEX images_by_name ON images (name text_pattern_ops);

-- Accounts other than the owner that may launch an image.
CREATE TABLE image_launch_permissions (
    image_id TEXT NOT NULL REFERENCES images (image_id) ON DELETE CASCADE,
    account_id TEXT NOT NULL,
    PRIMARY KEY (image_id, account_id)
);
CREATE INDEX launch_permissions_by_account ON image_launch_permissions (account_id, image_id);

CREATE TABLE key_pairs (
    key_pair_id TEXT PRIMARY KEY NOT NULL,
    account_id TEXT NOT NULL REFERENCES accounts (account_id),
    key_name TEXT NOT NULL,
    key_type TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    public_key TEXT NOT NULL,
    created_at TEXT NOT NULL,
    UNIQUE (account_id, key_name)
);

-- Tags of every taggable resource, per account: an account may tag an image shared with it,
-- and only that account sees those tags.
CREATE TABLE tags (
    account_id TEXT NOT NULL,
    resource_id TEXT NOT NULL,
    tag_key TEXT NOT NULL,
    tag_value TEXT NOT NULL,
    resource_type TEXT NOT NULL,
    PRIMARY KEY (account_id, resource_id, tag_key)
);
CREATE INDEX tags_by_resource ON tags (resource_id);
-- Equal key and value filters read this in resource order, as DescribeTags pages need.
CREATE INDEX tags_by_key_value ON tags (account_id, tag_key, tag_value text_pattern_ops, resource_id);
