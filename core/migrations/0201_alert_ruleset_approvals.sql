-- OVR-4 (reference/rpm-ccm-rules.md §C.5): carehub's default thresholds are decision support, not
-- diagnosis; a practice's medical director approves the default rule set at onboarding, and again
-- when carehub ships a new version of it. One row per practice and rule-set version, with who
-- approved it, when, and the rules (id, version, thresholds) exactly as they were approved.
CREATE TABLE alert_ruleset_approvals (
    id               uuid PRIMARY KEY,
    practice_id      uuid NOT NULL REFERENCES practices (id),
    ruleset_version  integer NOT NULL CHECK (ruleset_version >= 1),
    rules            jsonb NOT NULL CHECK (jsonb_typeof(rules) = 'object'),
    approved_by      uuid NOT NULL,
    approved_at      timestamptz NOT NULL,
    note             text CHECK (length(note) <= 2000),
    FOREIGN KEY (practice_id, approved_by) REFERENCES users (practice_id, id),
    UNIQUE (practice_id, ruleset_version)
);

-- Row-level security and the API role's grants. On a fresh database this migration runs before 0400
-- defines carehub_apply_practice_isolation(), and 0400 applies it to every practice_id table then;
-- on a database already past 0400 it applies here.
DO $$
BEGIN
    IF to_regprocedure('carehub_apply_practice_isolation()') IS NOT NULL THEN
        PERFORM carehub_apply_practice_isolation();
    END IF;
END
$$;
