-- Ingest resolves, for every reading, the hub and patient assignment of its device valid at
-- measured_at. The exclusion constraints' GiST indexes can answer that, but as bitmap scans; these
-- B-tree indexes make it one index probe per reading.
CREATE INDEX device_patient_assignments_device ON device_patient_assignments (device_id, valid_from DESC);
CREATE INDEX device_hub_assignments_device ON device_hub_assignments (device_id, valid_from DESC);
