-- What RunInstances asked of the instance metadata service (MetadataOptions) and of its
-- placement (Placement.Tenancy), in EC2's spelling; one row per instance, made with it. An
-- instance without a row (launched before these were recorded) has EC2's defaults for a plain
-- RunInstances, which are the columns' defaults. A table of its own: `instances` is at
-- Diesel's 32-column limit.
CREATE TABLE instance_options (
    instance_id TEXT PRIMARY KEY NOT NULL REFERENCES instances (instance_id) ON DELETE CASCADE,
    metadata_http_tokens TEXT NOT NULL DEFAULT 'optional',
    metadata_http_endpoint TEXT NOT NULL DEFAULT 'enabled',
    metadata_hop_limit INTEGER NOT NULL DEFAULT 1,
    metadata_tags TEXT NOT NULL DEFAULT 'disabled',
    metadata_protocol_ipv6 TEXT NOT NULL DEFAULT 'disabled',
    tenancy TEXT NOT NULL DEFAULT 'default'
);

-- One row per pool of capacity that launches and starts draw on (today the one host all
-- gateways on this database share). A launch locks its row (SELECT ... FOR UPDATE on
-- PostgreSQL) before it counts what is committed, so two gateways cannot both take the last
-- slot; on SQLite the write transaction (BEGIN IMMEDIATE) is serial already.
CREATE TABLE host_capacity (
    host_id TEXT PRIMARY KEY NOT NULL
);
INSERT INTO host_capacity (host_id) VALUES ('local');
