DROP INDEX volumes_deleting;
DROP INDEX instances_live;
