ALTER TABLE instances ADD COLUMN force_stop BOOLEAN NOT NULL DEFAULT FALSE;
UPDATE instances SET force_stop = (stop_mode = 'force');
ALTER TABLE instances DROP COLUMN stop_mode;
ALTER TABLE instances DROP COLUMN hibernation_configured;
ALTER TABLE instances DROP COLUMN reboot_requested_at;
