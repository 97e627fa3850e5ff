ALTER TABLE instances ADD COLUMN security_groups TEXT NOT NULL DEFAULT '';
UPDATE instances SET security_groups = COALESCE((
    SELECT group_concat(group_ref, ',') FROM (
        SELECT group_ref FROM instance_security_groups g
        WHERE g.instance_id = instances.instance_id ORDER BY position
    )
), '');
DROP TABLE instance_security_groups;
