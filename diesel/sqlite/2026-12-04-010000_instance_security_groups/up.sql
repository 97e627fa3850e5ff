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
WITH RECURSIVE split (instance_id, position, item, rest) AS (
    SELECT instance_id, 0, '', security_groups || ',' FROM instances
    UNION ALL
    SELECT instance_id, position + 1, substr(rest, 1, instr(rest, ',') - 1),
           substr(rest, instr(rest, ',') + 1)
    FROM split WHERE rest <> ''
)
SELECT instance_id, position - 1, item FROM split WHERE position > 0 AND item <> '';

ALTER TABLE instances DROP COLUMN security_groups;
