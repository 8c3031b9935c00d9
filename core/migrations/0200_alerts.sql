-- Alerts (reference/rpm-ccm-rules.md §C): alert rows with their lifecycle and the readings that
-- produced them, pending confirmations, per-patient threshold overrides, the transactional outbox of
-- notifications, and hub presence / device telemetry consumed by the scheduler.

-- An alert is about a patient (clinical, adherence), a device or a hub (operational). subject is the
-- patient id, device id or hub id as text, so one unique index enforces "one active alert per subject
-- and rule" (ALERT-3) for all three kinds.
CREATE TABLE alerts (
    id                uuid PRIMARY KEY,
    practice_id       uuid NOT NULL REFERENCES practices (id),
    subject_kind      text NOT NULL CHECK (subject_kind IN ('patient', 'device', 'hub')),
    subject           text NOT NULL,
    patient_id        uuid,
    device_id         uuid,
    hub_id            text,
    category          text NOT NULL CHECK (category IN ('clinical', 'adherence', 'operational')),
    rule_id           text NOT NULL CHECK (rule_id ~ '^[A-Z][A-Z0-9]*-[A-Za-z0-9]+$'),
    rule_version      integer NOT NULL CHECK (rule_version >= 1),
    severity          text NOT NULL CHECK (severity IN ('info', 'warning', 'critical')),
    thresholds        jsonb NOT NULL,
    observed          jsonb NOT NULL,
    late              boolean NOT NULL DEFAULT false,
    status            text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'acknowledged', 'resolved')),
    opened_at         timestamptz NOT NULL,
    last_evidence_at  timestamptz NOT NULL,
    acknowledged_at   timestamptz,
    acknowledged_by   uuid,
    acknowledge_note  text CHECK (length(acknowledge_note) <= 2000),
    resolved_at       timestamptz,
    resolved_by       uuid,
    resolve_note      text CHECK (length(resolve_note) <= 2000),
    snoozed_until     timestamptz,
    escalated_at      timestamptz,
    reopened_count    integer NOT NULL DEFAULT 0,
    UNIQUE (practice_id, id),
    FOREIGN KEY (practice_id, patient_id) REFERENCES patients (practice_id, id),
    FOREIGN KEY (practice_id, device_id) REFERENCES devices (practice_id, id),
    FOREIGN KEY (practice_id, hub_id) REFERENCES hubs (practice_id, id),
    FOREIGN KEY (practice_id, acknowledged_by) REFERENCES users (practice_id, id),
    FOREIGN KEY (practice_id, resolved_by) REFERENCES users (practice_id, id),
    CHECK (subject_kind <> 'patient' OR subject = patient_id::text),
    CHECK (subject_kind <> 'device' OR subject = device_id::text),
    CHECK (subject_kind <> 'hub' OR subject = hub_id),
    CHECK ((status = 'open') OR acknowledged_at IS NOT NULL OR status = 'resolved'),
    CHECK ((status = 'resolved') = (resolved_at IS NOT NULL))
);
CREATE UNIQUE INDEX alerts_one_active ON alerts (practice_id, subject, rule_id) WHERE status <> 'resolved';
CREATE INDEX alerts_queue ON alerts (practice_id, status, severity, opened_at DESC);
CREATE INDEX alerts_escalation ON alerts (opened_at) WHERE status = 'open' AND severity = 'critical' AND escalated_at IS NULL;
CREATE INDEX alerts_patient ON alerts (patient_id, opened_at DESC) WHERE patient_id IS NOT NULL;

-- The readings that produced an alert and the later ones attached to it (ALERT-3, ALERT-5).
CREATE TABLE alert_readings (
    alert_id     uuid NOT NULL REFERENCES alerts (id),
    reading_id   uuid NOT NULL,
    attached_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (alert_id, reading_id)
);

-- Every lifecycle step, append-only: who did what, when, with which note.
CREATE TABLE alert_events (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    alert_id    uuid NOT NULL REFERENCES alerts (id),
    practice_id uuid NOT NULL REFERENCES practices (id),
    kind        text NOT NULL CHECK (kind IN ('opened', 'attached', 'upgraded', 'acknowledged', 'resolved',
                                              'reopened', 'snoozed', 'escalated')),
    at          timestamptz NOT NULL,
    actor       uuid,
    note        text CHECK (length(note) <= 2000),
    detail      jsonb NOT NULL DEFAULT '{}',
    FOREIGN KEY (practice_id, actor) REFERENCES users (practice_id, id)
);
CREATE INDEX alert_events_alert ON alert_events (alert_id, id);

-- A confirm rule whose first set met the condition and waits for a repeat (§C.2 "confirm"). The
-- scheduler fires it at confirm_by; a repeat set fires it earlier, a normal repeat cancels it.
CREATE TABLE alert_pending (
    practice_id   uuid NOT NULL,
    patient_id    uuid NOT NULL,
    rule_id       text NOT NULL,
    rule_version  integer NOT NULL,
    severity      text NOT NULL CHECK (severity IN ('info', 'warning', 'critical')),
    thresholds    jsonb NOT NULL,
    observed      jsonb NOT NULL,
    reading_ids   uuid[] NOT NULL,
    late          boolean NOT NULL,
    first_at      timestamptz NOT NULL,
    confirm_by    timestamptz NOT NULL,
    PRIMARY KEY (patient_id, rule_id),
    FOREIGN KEY (practice_id, patient_id) REFERENCES patients (practice_id, id)
);
CREATE INDEX alert_pending_due ON alert_pending (confirm_by);

-- Threshold overrides (OVR-1..3): per patient (patient_id set) or practice default (NULL), versioned;
-- an edit supersedes the active row and keeps the previous value. Never updated otherwise.
CREATE TABLE alert_threshold_overrides (
    id               uuid PRIMARY KEY,
    practice_id      uuid NOT NULL REFERENCES practices (id),
    patient_id       uuid,
    rule_id          text NOT NULL,
    version          integer NOT NULL CHECK (version >= 1),
    params           jsonb NOT NULL CHECK (jsonb_typeof(params) = 'object'),
    previous_params  jsonb,
    reason           text NOT NULL CHECK (length(reason) BETWEEN 1 AND 2000),
    author_id        uuid NOT NULL,
    created_at       timestamptz NOT NULL,
    expires_at       timestamptz,
    superseded_at    timestamptz,
    FOREIGN KEY (practice_id, patient_id) REFERENCES patients (practice_id, id),
    FOREIGN KEY (practice_id, author_id) REFERENCES users (practice_id, id),
    CHECK (expires_at IS NULL OR expires_at > created_at)
);
CREATE UNIQUE INDEX alert_threshold_overrides_active
    ON alert_threshold_overrides (practice_id, coalesce(patient_id::text, ''), rule_id) WHERE superseded_at IS NULL;
CREATE UNIQUE INDEX alert_threshold_overrides_version
    ON alert_threshold_overrides (practice_id, coalesce(patient_id::text, ''), rule_id, version);

-- A rule that raised while evaluating a reading: the reading is kept, the defect is recorded here
-- and counted, and operators see it (see alerts/hook.py).
CREATE TABLE alert_evaluation_failures (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    practice_id  uuid NOT NULL REFERENCES practices (id),
    reading_id   uuid NOT NULL,
    rule_id      text NOT NULL,
    error        text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now()
);

-- Where a practice's notifications go. purpose 'on_call' routes receive escalations (ALERT-4).
-- The webhook secret is the practice's signing key (set by an operator, never in the repo).
CREATE TABLE notification_routes (
    id            uuid PRIMARY KEY,
    practice_id   uuid NOT NULL REFERENCES practices (id),
    channel       text NOT NULL CHECK (channel IN ('webhook', 'email')),
    purpose       text NOT NULL DEFAULT 'primary' CHECK (purpose IN ('primary', 'on_call')),
    target        text NOT NULL CHECK (length(target) BETWEEN 3 AND 2000),
    secret        text,
    min_severity  text NOT NULL DEFAULT 'warning' CHECK (min_severity IN ('info', 'warning', 'critical')),
    active        boolean NOT NULL DEFAULT true,
    created_at    timestamptz NOT NULL DEFAULT now(),
    CHECK (channel <> 'webhook' OR (target ~ '^https?://' AND secret IS NOT NULL AND length(secret) >= 16)),
    CHECK (channel <> 'email' OR target ~ '^[^@\s]+@[^@\s]+$')
);

-- Transactional outbox: written in the alert's transaction, delivered by `carehub notifier`.
-- One row per lifecycle event and route, so a redelivery never sends twice what was delivered.
CREATE TABLE notification_outbox (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    practice_id      uuid NOT NULL REFERENCES practices (id),
    alert_id         uuid NOT NULL REFERENCES alerts (id),
    event_id         bigint NOT NULL REFERENCES alert_events (id),
    route_id         uuid NOT NULL REFERENCES notification_routes (id),
    channel          text NOT NULL CHECK (channel IN ('webhook', 'email')),
    payload          jsonb NOT NULL,
    status           text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'dead')),
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL,
    last_error       text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    delivered_at     timestamptz,
    UNIQUE (event_id, route_id)
);
CREATE INDEX notification_outbox_due ON notification_outbox (next_attempt_at) WHERE status = 'pending';

-- Hub presence from up/status (retained; the Last Will says 'lost'). session orders messages: a Will
-- from an older session than the one stored is stale and ignored.
CREATE TABLE hub_presence (
    hub_id        text PRIMARY KEY REFERENCES hubs (id),
    practice_id   uuid NOT NULL REFERENCES practices (id),
    state         text NOT NULL CHECK (state IN ('online', 'offline', 'lost')),
    session       bigint NOT NULL,
    last_seen_at  timestamptz NOT NULL,
    changed_at    timestamptz NOT NULL,
    outbox_depth  integer,
    clock         text
);

-- Latest device telemetry from up/events (battery, clock offset), one row per device.
CREATE TABLE device_telemetry (
    device_id       uuid PRIMARY KEY REFERENCES devices (id),
    practice_id     uuid NOT NULL REFERENCES practices (id),
    hub_id          text,
    battery_pct     integer CHECK (battery_pct BETWEEN 0 AND 100),
    battery_at      timestamptz,
    clock_offset_s  double precision,
    clock_at        timestamptz,
    last_event_at   timestamptz NOT NULL
);
