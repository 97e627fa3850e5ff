-- The reconciler reads the instances in motion and the volumes being deleted on every pass
-- (once a second). The plain indexes on `state` are not enough: statistics gathered while
-- every row is `stopped` (ANALYZE, PRAGMA optimize) make the planner expect each state to
-- hold the whole table, so it scans 100,000 rows a second for none. Partial indexes hold
-- only the rows those queries want; src/store/instances.rs and volumes.rs write their
-- predicates as this very literal SQL, as the planner uses a partial index only for a query
-- whose WHERE clause contains the index's own (bind parameters do not count).
CREATE INDEX instances_live ON instances (instance_id)
    WHERE state IN ('pending', 'running', 'stopping', 'shutting-down');
CREATE INDEX volumes_deleting ON volumes (volume_id) WHERE state = 'deleting';
