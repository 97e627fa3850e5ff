-- RebootInstances' intent, written before libvirt is asked: the reconciler resets a guest that
-- has not rebooted when the timeout is up, and a restart finds the reboot still owed.
ALTER TABLE instances ADD COLUMN reboot_requested_at TEXT;
-- HibernationOptions.Configured at launch.
ALTER TABLE instances ADD COLUMN hibernation_configured BOOLEAN NOT NULL DEFAULT FALSE;
-- How the stop under way ends: 'shutdown' (ACPI, forced after the stop timeout), 'force'
-- (powered off at once) or 'hibernate' (memory saved, libvirt managed save). Replaces
-- force_stop.
ALTER TABLE instances ADD COLUMN stop_mode TEXT NOT NULL DEFAULT 'shutdown';
UPDATE instances SET stop_mode = 'force' WHERE force_stop;
ALTER TABLE instances DROP COLUMN force_stop;
