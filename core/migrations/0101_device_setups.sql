-- 99453 set-up and patient education (reference/cellular-and-logistics.md §3.6): who did it, when,
-- how (in person, video, phone) and for which unit. Once per episode of care is billing's rule; this
-- table only records that it happened.
CREATE TABLE device_setups (
    id            uuid PRIMARY KEY,
    practice_id   uuid NOT NULL,
    patient_id    uuid NOT NULL,
    device_id     uuid NOT NULL,
    performed_by  uuid NOT NULL,
    performed_at  timestamptz NOT NULL,
    modality      text NOT NULL CHECK (modality IN ('in_person', 'video', 'phone')),
    recorded_at   timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (practice_id, patient_id) REFERENCES patients (practice_id, id),
    FOREIGN KEY (practice_id, device_id) REFERENCES devices (practice_id, id),
    FOREIGN KEY (practice_id, performed_by) REFERENCES users (practice_id, id)
);
CREATE INDEX device_setups_patient ON device_setups (patient_id, performed_at);
