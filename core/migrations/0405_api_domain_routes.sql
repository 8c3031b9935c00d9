-- The remaining domain routes of the API (issue 8 item 1): conditions, consents and program
-- enrollment, device inventory and custody, shipments, care time, the billing report and hub
-- configuration. Their permissions and which roles hold them, as data; and the privileges the API
-- role needs to run provisioning's and billing's services under row-level security.

INSERT INTO permissions (name, description)
VALUES ('enrollment.read', 'Read a patient''s conditions, consents and program enrollment'),
       ('enrollment.manage', 'Enroll a patient in a program (as the ordering practitioner) and end it'),
       ('conditions.manage', 'Record and resolve a patient''s diagnoses'),
       ('consents.manage', 'Record and revoke a patient''s program consent'),
       ('devices.read', 'List devices and read their custody history and assignments'),
       ('devices.manage', 'Assign, unassign, replace and block devices'),
       ('shipments.read', 'List shipments and their carrier events'),
       ('shipments.manage', 'Create shipments and mark them delivered or returned'),
       ('care_time.read', 'Read care time entries and their revisions'),
       ('care_time.write', 'Log, stop, edit and void care time'),
       ('billing.read', 'Read the monthly billing report and per-patient explanations'),
       ('hubs.manage', 'Have a hub''s desired configuration issued again');

-- admins hold every permission
INSERT INTO role_permissions (role, permission)
SELECT 'admin', name FROM permissions ON CONFLICT DO NOTHING;
INSERT INTO role_permissions (role, permission)
VALUES -- clinicians diagnose, order programs, obtain consent, log care time, and see where the patient's
       -- devices are
       ('clinician', 'enrollment.read'), ('clinician', 'enrollment.manage'), ('clinician', 'conditions.manage'),
       ('clinician', 'consents.manage'),
       ('clinician', 'care_time.read'), ('clinician', 'care_time.write'), ('clinician', 'devices.read'),
       ('clinician', 'shipments.read'),
       -- care staff (nurses, MAs) obtain consent and log care time; diagnoses are the clinician's
       ('care_staff', 'enrollment.read'), ('care_staff', 'consents.manage'), ('care_staff', 'care_time.read'),
       ('care_staff', 'care_time.write'), ('care_staff', 'devices.read'), ('care_staff', 'shipments.read'),
       -- logistics moves devices and parcels and reissues hub configuration; no clinical data
       ('logistics', 'devices.read'), ('logistics', 'devices.manage'), ('logistics', 'shipments.read'),
       ('logistics', 'shipments.manage'),
       ('logistics', 'hubs.manage'),
       -- billing reads the evidence behind a code (conditions, consent, enrollment, care time) and the report
       ('billing', 'enrollment.read'), ('billing', 'care_time.read'), ('billing', 'billing.read');

-- Custody events and carrier events are identity-keyed; the API role inserts them through the services.
GRANT USAGE ON SEQUENCE device_custody_events_id_seq, shipment_events_id_seq TO carehub_api;

-- Shared catalogues (no tenant data): device models, and the fee schedule the report prices codes with.
GRANT SELECT ON device_models, billing_fee_rvus, billing_conversion_factors TO carehub_api;

-- Marking a hub's configuration for reissue (a route, and the trigger on device_hub_assignments when the
-- API assigns a device) follows the visibility of the hub, as hub_config_state does.
ALTER TABLE hub_config_pending ENABLE ROW LEVEL SECURITY;
CREATE POLICY practice_isolation ON hub_config_pending TO carehub_api
    USING (EXISTS (SELECT 1 FROM hubs h WHERE h.id = hub_config_pending.hub_id))
    WITH CHECK (EXISTS (SELECT 1 FROM hubs h WHERE h.id = hub_config_pending.hub_id));
GRANT SELECT, INSERT, UPDATE ON hub_config_pending TO carehub_api;

SELECT carehub_apply_practice_isolation();
