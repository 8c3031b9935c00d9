-- Billing (issue 7): care time with its audit trail, and the fee schedule loaded per year.
-- reference/rpm-ccm-rules.md §A. Consent, program enrollment, the last visit and device activation
-- belong to provisioning (0100_provisioning: consents, program_enrollments, patients.last_visit_on,
-- devices.activated_at); billing reads them and never keeps a copy. Care plans and the monthly
-- complex-CCM attestation are clinical billing facts and live here.

-- Care time: one row per timed activity for one patient and ONE program (TIME-1). Every entry has a
-- clock interval, also a manual one (started_at + minutes), so the database itself can refuse
-- (a) one staff member being in two entries at once -- a minute of theirs counting for two patients
-- or two programs -- and (b) any minute of a patient counting for two programs. A running timer
-- has no end yet and blocks its performer's later time until it is stopped. Entries are never
-- deleted: a mistaken entry is voided, with a reason, and stops counting and blocking.
CREATE TABLE care_time_entries (
    id              uuid PRIMARY KEY,
    practice_id     uuid NOT NULL,
    patient_id      uuid NOT NULL,
    performer_id    uuid NOT NULL,
    program         text NOT NULL CHECK (program IN ('RPM', 'CCM')),
    -- The performer's billing role when the time was spent (RPM-MGMT-6, CCM-TIME-2), frozen here so
    -- a later credential change does not rewrite history.
    performer_role  text NOT NULL CHECK (performer_role IN ('clinical_staff', 'physician')),
    activity        text NOT NULL CHECK (activity IN (
                        'data_review', 'patient_call', 'care_plan', 'care_coordination',
                        'medication_management', 'education', 'other')),
    -- A real-time, synchronous two-way audio (or video) conversation with the patient or caregiver
    -- (RPM-MGMT-2).
    interactive     boolean NOT NULL,
    source          text NOT NULL CHECK (source IN ('timer', 'manual')),
    started_at      timestamptz NOT NULL,
    ended_at        timestamptz,
    note            text CHECK (length(note) <= 4000),
    version         integer NOT NULL DEFAULT 1 CHECK (version >= 1),
    voided_at       timestamptz,
    created_by      uuid NOT NULL,
    created_at      timestamptz NOT NULL,
    updated_by      uuid NOT NULL,
    updated_at      timestamptz NOT NULL,
    change_reason   text CHECK (length(change_reason) BETWEEN 1 AND 500),
    CHECK (ended_at IS NULL OR ended_at > started_at),
    CHECK (ended_at IS NULL OR ended_at - started_at <= interval '12 hours'),
    CHECK (source = 'timer' OR ended_at IS NOT NULL),
    CHECK (voided_at IS NULL OR ended_at IS NOT NULL),
    CHECK (version = 1 OR change_reason IS NOT NULL),
    UNIQUE (practice_id, id),
    FOREIGN KEY (practice_id, patient_id) REFERENCES patients (practice_id, id),
    FOREIGN KEY (practice_id, performer_id) REFERENCES users (practice_id, id),
    FOREIGN KEY (practice_id, created_by) REFERENCES users (practice_id, id),
    FOREIGN KEY (practice_id, updated_by) REFERENCES users (practice_id, id),
    CONSTRAINT care_time_performer_no_overlap
        EXCLUDE USING gist (performer_id WITH =, tstzrange(started_at, ended_at, '[)') WITH &&)
        WHERE (voided_at IS NULL),
    CONSTRAINT care_time_patient_one_program_per_minute
        EXCLUDE USING gist (patient_id WITH =, program WITH <>, tstzrange(started_at, ended_at, '[)') WITH &&)
        WHERE (voided_at IS NULL)
);
CREATE INDEX care_time_entries_practice_time ON care_time_entries (practice_id, started_at)
    WHERE voided_at IS NULL;
CREATE INDEX care_time_entries_patient_time ON care_time_entries (patient_id, started_at);

-- The audit trail: every version of every entry, written by trigger in the same transaction as the
-- change, so no change can bypass it. Append-only.
CREATE TABLE care_time_entry_revisions (
    entry_id    uuid NOT NULL REFERENCES care_time_entries (id),
    version     integer NOT NULL,
    practice_id uuid NOT NULL,
    action      text NOT NULL CHECK (action IN ('create', 'stop', 'edit', 'void')),
    changed_by  uuid NOT NULL,
    changed_at  timestamptz NOT NULL,
    reason      text,
    snapshot    jsonb NOT NULL,
    PRIMARY KEY (entry_id, version)
);

CREATE FUNCTION carehub_care_time_versioned() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        IF NEW.id <> OLD.id OR NEW.practice_id <> OLD.practice_id OR NEW.patient_id <> OLD.patient_id
           OR NEW.created_by <> OLD.created_by OR NEW.created_at <> OLD.created_at THEN
            RAISE EXCEPTION 'a care time entry keeps its id, patient and creation record'
                USING ERRCODE = 'check_violation';
        END IF;
        IF OLD.voided_at IS NOT NULL THEN
            RAISE EXCEPTION 'a voided care time entry cannot change' USING ERRCODE = 'check_violation';
        END IF;
        NEW.version := OLD.version + 1;
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER care_time_entries_versioned BEFORE UPDATE ON care_time_entries
    FOR EACH ROW EXECUTE FUNCTION carehub_care_time_versioned();

CREATE FUNCTION carehub_care_time_audit() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    act text;
BEGIN
    IF TG_OP = 'INSERT' THEN
        act := 'create';
    ELSIF NEW.voided_at IS NOT NULL THEN
        act := 'void';
    ELSIF OLD.ended_at IS NULL AND NEW.ended_at IS NOT NULL AND NEW.started_at = OLD.started_at
          AND NEW.program = OLD.program AND NEW.interactive = OLD.interactive THEN
        act := 'stop';
    ELSE
        act := 'edit';
    END IF;
    INSERT INTO care_time_entry_revisions (entry_id, version, practice_id, action, changed_by, changed_at, reason, snapshot)
    VALUES (NEW.id, NEW.version, NEW.practice_id, act, NEW.updated_by, NEW.updated_at,
            CASE WHEN TG_OP = 'INSERT' THEN NULL ELSE NEW.change_reason END, to_jsonb(NEW));
    RETURN NULL;
END
$$;
CREATE TRIGGER care_time_entries_audit AFTER INSERT OR UPDATE ON care_time_entries
    FOR EACH ROW EXECUTE FUNCTION carehub_care_time_audit();

CREATE FUNCTION carehub_care_time_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only (% refused)', TG_TABLE_NAME, TG_OP USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER care_time_entries_never_deleted BEFORE DELETE ON care_time_entries
    FOR EACH ROW EXECUTE FUNCTION carehub_care_time_refuse_change();
CREATE TRIGGER care_time_entry_revisions_append_only BEFORE UPDATE OR DELETE ON care_time_entry_revisions
    FOR EACH ROW EXECUTE FUNCTION carehub_care_time_refuse_change();

-- CCM care plans (CCM-ELIG-2): established, shared with the patient, ended; one in force at a time.
CREATE TABLE care_plans (
    id                      uuid PRIMARY KEY,
    practice_id             uuid NOT NULL,
    patient_id              uuid NOT NULL,
    established_on          date NOT NULL,
    shared_with_patient_on  date,
    ended_on                date,
    recorded_by             uuid NOT NULL,
    recorded_at             timestamptz NOT NULL,
    CHECK (ended_on IS NULL OR ended_on >= established_on),
    FOREIGN KEY (practice_id, patient_id) REFERENCES patients (practice_id, id),
    FOREIGN KEY (practice_id, recorded_by) REFERENCES users (practice_id, id),
    CONSTRAINT care_plans_one_in_force
        EXCLUDE USING gist (patient_id WITH =, daterange(established_on, ended_on, '[]') WITH &&)
);

-- Complex CCM (CCM-TIME-3) in a month: the practitioner attests moderate or high complexity medical
-- decision making and that the care plan was established or substantially revised that month.
CREATE TABLE ccm_complexity_attestations (
    practice_id       uuid NOT NULL,
    patient_id        uuid NOT NULL,
    month             date NOT NULL CHECK (extract(day FROM month) = 1),
    mdm               text NOT NULL CHECK (mdm IN ('moderate', 'high')),
    care_plan_change  text NOT NULL CHECK (care_plan_change IN ('established', 'substantially_revised')),
    attested_by       uuid NOT NULL,
    attested_at       timestamptz NOT NULL,
    PRIMARY KEY (patient_id, month),
    FOREIGN KEY (practice_id, patient_id) REFERENCES patients (practice_id, id),
    FOREIGN KEY (practice_id, attested_by) REFERENCES users (practice_id, id)
);

-- Fee schedule per calendar year (reference/rpm-ccm-rules.md §A.8): RVUs and the conversion
-- factors; allowed amount = RVU x factor, rounded to the cent. Loaded again for each CMS release.
CREATE TABLE billing_conversion_factors (
    year    integer NOT NULL CHECK (year BETWEEN 2020 AND 2100),
    kind    text NOT NULL CHECK (kind IN ('non_qp', 'qp')),
    factor  numeric(8, 4) NOT NULL CHECK (factor > 0),
    source  text NOT NULL,
    PRIMARY KEY (year, kind)
);
CREATE TABLE billing_fee_rvus (
    year    integer NOT NULL CHECK (year BETWEEN 2020 AND 2100),
    code    text NOT NULL CHECK (code ~ '^[0-9A-Z]{5}$'),
    rvu     numeric(6, 2) NOT NULL CHECK (rvu > 0),
    source  text NOT NULL,
    PRIMARY KEY (year, code)
);
INSERT INTO billing_conversion_factors (year, kind, factor, source)
VALUES (2026, 'non_qp', 33.4009, 'CMS-1832-F'), (2026, 'qp', 33.5675, 'CMS-1832-F');
INSERT INTO billing_fee_rvus (year, code, rvu, source)
SELECT 2026, code, rvu, 'PPRRVU2026_Jul_nonQPP (RVU26C)'
FROM (VALUES ('99453', 0.65), ('99445', 1.56), ('99454', 1.56), ('99470', 0.78), ('99457', 1.55),
             ('99458', 1.24), ('99091', 1.66), ('99490', 1.98), ('99439', 1.51), ('99491', 2.67),
             ('99437', 1.89), ('99487', 4.32), ('99489', 2.34), ('99424', 2.62), ('99425', 1.84),
             ('99426', 2.03), ('99427', 1.62), ('98980', 1.62)) AS seed (code, rvu);

-- Codes the practice has submitted, so "once per episode" (RPM-SETUP-1) is known from records and
-- a later month's report does not propose 99453 again.
CREATE TABLE billing_submitted_codes (
    id               uuid PRIMARY KEY,
    practice_id      uuid NOT NULL,
    patient_id       uuid NOT NULL,
    code             text NOT NULL CHECK (code ~ '^[0-9A-Z]{5}$'),
    units            integer NOT NULL CHECK (units >= 1),
    date_of_service  date NOT NULL,
    submitted_by     uuid NOT NULL,
    submitted_at     timestamptz NOT NULL,
    FOREIGN KEY (practice_id, patient_id) REFERENCES patients (practice_id, id),
    FOREIGN KEY (practice_id, submitted_by) REFERENCES users (practice_id, id),
    UNIQUE (patient_id, code, date_of_service)
);
