ALTER TABLE instances ADD COLUMN security_groups TEXT NOT NULL DEFAULT '';
UPDATE instances SET security_groups = COALESCE((
    SELECT string_agg(group_ref, ',' ORDER BY position) FROM instance_security_groups g
    WHERE g.instance_id = instances.instance_id
), '');
DROP TABLE instance_security_groups;
