-- One RunInstances call; its ClientToken makes a retried call return the same instances.
CREATE TABLE reservations (
    reservation_id TEXT PRIMARY KEY NOT NULL,
    account_id TEXT NOT NULL REFERENCES accounts (account_id),
    client_token TEXT,
    request_hash TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE UNIQUE INDEX reservations_by_client_token ON reservations (account_id, client_token);

-- Instances. The row is written before libvirt is touched (state pending); the reconciler
-- drives the domain to what the row says and records what happened.
CREATE TABLE instances (
    instance_id TEXT PRIMARY KEY NOT NULL,
    account_id TEXT NOT NULL REFERENCES accounts (account_id),
    reservation_id TEXT NOT NULL REFERENCES reservations (reservation_id),
    launch_index INTEGER NOT NULL,
    image_id TEXT NOT NULL,
    instance_type TEXT NOT NULL,
    vcpus INTEGER NOT NULL,
    memory_mib BIGINT NOT NULL,
    key_name TEXT,
    availability_zone TEXT NOT NULL,
    state TEXT NOT NULL,
    state_reason_code TEXT,
    state_reason_message TEXT,
    transition_reason TEXT NOT NULL,
    launch_time TEXT NOT NULL,
    state_changed_at TEXT NOT NULL,
    user_data TEXT NOT NULL,
    disable_api_termination BOOLEAN NOT NULL,
    disable_api_stop BOOLEAN NOT NULL,
    shutdown_behavior TEXT NOT NULL,
    security_groups TEXT NOT NULL,
    subnet_id TEXT,
    root_volume_id TEXT NOT NULL,
    root_size_gib INTEGER NOT NULL,
    root_delete_on_termination BOOLEAN NOT NULL,
    ebs_optimized BOOLEAN NOT NULL,
    monitoring BOOLEAN NOT NULL,
    cpu_credits TEXT NOT NULL,
    force_stop BOOLEAN NOT NULL,
    client_token TEXT NOT NULL
);
CREATE INDEX instances_by_account ON instances (account_id, instance_id);
CREATE INDEX instances_by_state ON instances (state);
CREATE INDEX instances_by_reservation ON instances (reservation_id);
