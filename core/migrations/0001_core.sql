-- carehub core schema: practices, patients, hubs, devices, time-bounded assignments, dead letters.
-- Every tenant-owned table carries practice_id. Composite foreign keys (practice_id, id) make an
-- assignment across practices impossible, and exclusion constraints make overlapping assignments of
-- one device impossible.

CREATE EXTENSION IF NOT EXISTS btree_gist;

-- A time zone name PostgreSQL knows (the patient's local day decides billing "days with data").
CREATE FUNCTION carehub_is_time_zone(tz text) RETURNS boolean
    LANGUAGE plpgsql IMMUTABLE STRICT AS $$
BEGIN
    PERFORM now() AT TIME ZONE tz;
    RETURN true;
EXCEPTION WHEN invalid_parameter_value THEN
    RETURN false;
END
$$;

CREATE TABLE practices (
    id          uuid PRIMARY KEY,
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    time_zone   text NOT NULL CHECK (carehub_is_time_zone(time_zone)),
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE patients (
    id           uuid PRIMARY KEY,
    practice_id  uuid NOT NULL REFERENCES practices (id),
    mrn          text NOT NULL CHECK (length(mrn) BETWEEN 1 AND 64),
    given_name   text,
    family_name  text,
    birth_date   date,
    time_zone    text NOT NULL CHECK (carehub_is_time_zone(time_zone)),
    created_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (practice_id, mrn),
    UNIQUE (practice_id, id)
);

-- A hub's id is opaque (never derived from a patient or a MAC) and is its MQTT username.
CREATE TABLE hubs (
    id           text PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9_-]{4,64}$'),
    practice_id  uuid NOT NULL REFERENCES practices (id),
    serial       text NOT NULL UNIQUE CHECK (length(serial) BETWEEN 1 AND 64),
    created_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (practice_id, id)
);

CREATE TABLE device_kinds (
    kind text PRIMARY KEY
);
INSERT INTO device_kinds (kind)
VALUES ('bp_cuff'), ('glucometer'), ('scale'), ('pulse_oximeter'), ('thermometer');

-- Which reading kinds a device of each kind can produce (mirrors core.domain.DEVICE_READING_KINDS;
-- a test keeps the two equal). Ingest refuses readings of any other kind from a device.
CREATE TABLE device_kind_reading_kinds (
    device_kind   text NOT NULL REFERENCES device_kinds (kind),
    reading_kind  text NOT NULL,
    PRIMARY KEY (device_kind, reading_kind)
);
INSERT INTO device_kind_reading_kinds (device_kind, reading_kind)
VALUES ('bp_cuff', 'blood_pressure'),
       ('glucometer', 'glucose'),
       ('scale', 'weight'),
       ('scale', 'body_composition'),
       ('pulse_oximeter', 'pulse_oximetry'),
       ('thermometer', 'temperature');

CREATE TABLE devices (
    id            uuid PRIMARY KEY,
    practice_id   uuid NOT NULL REFERENCES practices (id),
    serial        text NOT NULL UNIQUE CHECK (serial ~ '^[A-Za-z0-9._:-]{1,64}$'),
    kind          text NOT NULL REFERENCES device_kinds (kind),
    connectivity  text NOT NULL CHECK (connectivity IN ('ble', 'cellular')),
    ble_address   text CHECK (ble_address ~ '^([0-9A-F]{2}:){5}[0-9A-F]{2}$'),
    imei          text CHECK (imei ~ '^[0-9]{15}$'),
    manufacturer  text,
    model         text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (practice_id, id),
    CHECK (connectivity <> 'cellular' OR ble_address IS NULL)
);

-- Device ↔ patient over time: [valid_from, valid_to), open-ended while current. Readings resolve
-- their patient through the assignment valid at measured_at, never through a hub or gateway id.
CREATE TABLE device_patient_assignments (
    id           uuid PRIMARY KEY,
    practice_id  uuid NOT NULL,
    device_id    uuid NOT NULL,
    patient_id   uuid NOT NULL,
    valid_from   timestamptz NOT NULL,
    valid_to     timestamptz,
    created_at   timestamptz NOT NULL DEFAULT now(),
    CHECK (valid_to IS NULL OR valid_to > valid_from),
    FOREIGN KEY (practice_id, device_id) REFERENCES devices (practice_id, id),
    FOREIGN KEY (practice_id, patient_id) REFERENCES patients (practice_id, id),
    CONSTRAINT device_patient_assignments_no_overlap
        EXCLUDE USING gist (device_id WITH =, tstzrange(valid_from, valid_to, '[)') WITH &&)
);
CREATE INDEX device_patient_assignments_patient ON device_patient_assignments (patient_id, valid_from);

-- Device ↔ hub over time: a BLE device talks through exactly one hub at a time.
CREATE TABLE device_hub_assignments (
    id           uuid PRIMARY KEY,
    practice_id  uuid NOT NULL,
    device_id    uuid NOT NULL,
    hub_id       text NOT NULL,
    valid_from   timestamptz NOT NULL,
    valid_to     timestamptz,
    created_at   timestamptz NOT NULL DEFAULT now(),
    CHECK (valid_to IS NULL OR valid_to > valid_from),
    FOREIGN KEY (practice_id, device_id) REFERENCES devices (practice_id, id),
    FOREIGN KEY (practice_id, hub_id) REFERENCES hubs (practice_id, id),
    CONSTRAINT device_hub_assignments_no_overlap
        EXCLUDE USING gist (device_id WITH =, tstzrange(valid_from, valid_to, '[)') WITH &&)
);
CREATE INDEX device_hub_assignments_hub ON device_hub_assignments (hub_id, valid_from);

-- Everything ingest could not accept, with the reason and the payload, so nothing is silently lost.
-- A whole message that cannot be parsed is stored raw (truncated past 64 KiB, with its full size
-- and SHA-256); a rejected reading is stored as its own JSON. The same bad input arriving again
-- (a QoS 1 redelivery, a hub resend) does not add a second row.
CREATE TABLE dead_letters (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    practice_id     uuid REFERENCES practices (id),
    source          text NOT NULL CHECK (source IN ('mqtt', 'webhook')),
    hub_id          text,
    topic           text,
    batch_id        text,
    reading_id      text,
    device_serial   text,
    reason          text NOT NULL CHECK (reason ~ '^[a-z][a-z0-9_]{1,63}$'),
    detail          text NOT NULL,
    payload         bytea NOT NULL,
    payload_size    integer NOT NULL CHECK (payload_size >= 0),
    payload_sha256  bytea NOT NULL CHECK (length(payload_sha256) = 32),
    received_at     timestamptz NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    resolved_at     timestamptz,
    resolution      text,
    CHECK ((resolved_at IS NULL) = (resolution IS NULL))
);
CREATE UNIQUE INDEX dead_letters_once
    ON dead_letters (source, coalesce(hub_id, ''), reason, payload_sha256);
CREATE INDEX dead_letters_received ON dead_letters (received_at);
CREATE INDEX dead_letters_practice ON dead_letters (practice_id, received_at) WHERE practice_id IS NOT NULL;
