-- The audit log (issue 8, HIPAA §164.312(b)): one row for every API request that reads or changes
-- patient data: who, when, what, which patient(s), which route, from where. Append-only for everyone:
-- a trigger refuses UPDATE, DELETE and TRUNCATE (the owner included), and carehub_api may only INSERT
-- and SELECT, within its practice.

CREATE TABLE audit_log (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    practice_id     uuid NOT NULL REFERENCES practices (id),
    user_id         uuid NOT NULL,
    at              timestamptz NOT NULL,
    action          text NOT NULL CHECK (action ~ '^[a-z_]+\.[a-z_]+$'),
    -- the one patient a request is about; a list request names every patient it returned instead
    patient_id      uuid,
    patient_ids     uuid[] NOT NULL DEFAULT '{}',
    method          text NOT NULL CHECK (method ~ '^[A-Z]{3,7}$'),
    route           text NOT NULL CHECK (length(route) <= 200),
    client_address  inet,
    FOREIGN KEY (practice_id, user_id) REFERENCES users (practice_id, id)
);
CREATE INDEX audit_log_practice_at ON audit_log (practice_id, at DESC);
CREATE INDEX audit_log_patient_at ON audit_log (patient_id, at DESC) WHERE patient_id IS NOT NULL;
CREATE INDEX audit_log_patient_ids ON audit_log USING gin (patient_ids);

CREATE FUNCTION carehub_audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only (% refused)', TG_OP USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION carehub_audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION carehub_audit_log_append_only();

INSERT INTO api_role_table_privileges (table_name, privileges) VALUES ('audit_log', 'SELECT, INSERT');
SELECT carehub_apply_practice_isolation();
GRANT USAGE ON SEQUENCE audit_log_id_seq TO carehub_api;
