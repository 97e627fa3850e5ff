-- Volumes: for now the root volume of each instance, attached at launch; one launched with
-- DeleteOnTermination=false outlives its instance as an `available` volume (its disk moved to
-- DATA_DIR/volumes/) until DeleteVolume. States: in-use, available, deleting (the reconciler
-- removes the file), deleted (kept for ids; never described).
CREATE TABLE volumes (
    volume_id TEXT PRIMARY KEY NOT NULL,
    account_id TEXT NOT NULL REFERENCES accounts (account_id),
    availability_zone TEXT NOT NULL,
    size_gib INTEGER NOT NULL,
    state TEXT NOT NULL,
    created_at TEXT NOT NULL,
    state_changed_at TEXT NOT NULL,
    instance_id TEXT,
    device TEXT,
    attach_time TEXT,
    delete_on_termination BOOLEAN NOT NULL
);
CREATE INDEX volumes_by_account ON volumes (account_id, volume_id);
CREATE INDEX volumes_by_state ON volumes (state);
CREATE INDEX volumes_by_instance ON volumes (instance_id);

-- The root volumes of the instances there already are.
INSERT INTO volumes (volume_id, account_id, availability_zone, size_gib, state, created_at,
                     state_changed_at, instance_id, device, attach_time, delete_on_termination)
SELECT root_volume_id, account_id, availability_zone, root_size_gib,
       CASE WHEN state = 'terminated' THEN 'deleted' ELSE 'in-use' END,
       launch_time, state_changed_at,
       CASE WHEN state = 'terminated' THEN NULL ELSE instance_id END,
       CASE WHEN state = 'terminated' THEN NULL
            ELSE COALESCE((SELECT root_device_name FROM images WHERE images.image_id = instances.image_id), '/dev/xvda') END,
       CASE WHEN state = 'terminated' THEN NULL ELSE launch_time END,
       root_delete_on_termination
FROM instances;
