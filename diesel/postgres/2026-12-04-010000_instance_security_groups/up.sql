-- An instance's security groups as rows, in the order they were given, in place of the
-- comma-joined `instances.security_groups`. `group_ref` is a group id (rows from before group
-- ids were resolved may hold a name as it was sent).
CREATE TABLE instance_security_groups (
    instance_id TEXT NOT NULL REFERENCES instances (instance_id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    group_ref TEXT NOT NULL,
    PRIMARY KEY (instance_id, position)
);
CREATE INDEX instance_security_groups_by_group ON instance_security_groups (group_ref, instance_id);

INSERT INTO instance_security_groups (instance_id, position, group_ref)
SELECT i.instance_id, (g.ord - 1)::INTEGER, g.ref
FROM instances i, unnest(string_to_array(i.security_groups, ',')) WITH ORDINALITY AS g (ref, ord)
WHERE g.ref <> '';

ALTER TABLE instances DROP COLUMN security_groups;
