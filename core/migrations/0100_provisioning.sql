-- Provisioning: device models and custody, patient enrollment (MBI, address, consent, programs),
-- shipments with carrier events, device replacements, hub credentials and hub configuration
-- (reference/cellular-and-logistics.md §3, reference/rpm-ccm-rules.md §A). Custody and engagement
-- are separate: custody is a column moved only by recorded events; engagement is derived.

-- Inventory -----------------------------------------------------------------------------------------

-- Models are a catalogue shared by every practice (vendor data, not tenant data).
CREATE TABLE device_models (
    id            uuid PRIMARY KEY,
    vendor        text NOT NULL CHECK (length(vendor) BETWEEN 1 AND 100),
    model         text NOT NULL CHECK (length(model) BETWEEN 1 AND 100),
    kind          text NOT NULL REFERENCES device_kinds (kind),
    connectivity  text NOT NULL CHECK (connectivity IN ('ble', 'cellular')),
    -- RPM-DEV-1: the model meets the FD&C Act §201(h) device definition; clearance is recorded.
    fda_status    text NOT NULL CHECK (fda_status IN ('cleared_510k', 'de_novo', 'pma_approved', 'exempt',
                                                      'enforcement_discretion', 'not_a_device')),
    fda_reference text CHECK (length(fda_reference) <= 40),
    created_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (vendor, model)
);

ALTER TABLE devices
    ADD COLUMN model_id            uuid REFERENCES device_models (id),
    ADD COLUMN firmware            text CHECK (length(firmware) <= 40),
    ADD COLUMN lot                 text CHECK (length(lot) <= 40),
    ADD COLUMN custody_state       text NOT NULL DEFAULT 'in_stock' CHECK (custody_state IN (
        'in_stock', 'assigned', 'label_created', 'in_transit', 'delivery_exception', 'return_to_sender',
        'delivered', 'activated', 'faulty', 'replaced', 'unenrolled', 'return_requested',
        'return_in_transit', 'returned', 'quarantine', 'refurbished', 'retired', 'lost')),
    ADD COLUMN custody_changed_at  timestamptz,
    -- Set when the unit is lost or retired: ingest quarantines (dead-letters) everything it sends.
    ADD COLUMN blocked_at          timestamptz,
    ADD COLUMN delivered_at        timestamptz,
    -- The first accepted device reading (99453 evidence), kept per issue of the unit.
    ADD COLUMN activated_at        timestamptz,
    ADD CONSTRAINT devices_blocked_only_when_lost_or_retired
        CHECK (blocked_at IS NULL OR custody_state IN ('lost', 'retired', 'returned', 'quarantine', 'refurbished'));
CREATE UNIQUE INDEX devices_imei ON devices (imei) WHERE imei IS NOT NULL;
CREATE INDEX devices_custody ON devices (practice_id, custody_state);

-- Every custody transition, append-only: who, when, why, on what evidence.
CREATE TABLE device_custody_events (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    practice_id  uuid NOT NULL,
    device_id    uuid NOT NULL,
    action       text NOT NULL CHECK (action ~ '^[a-z_]{2,40}$'),
    from_state   text NOT NULL,
    to_state     text NOT NULL,
    at           timestamptz NOT NULL,
    actor_id     uuid,
    actor_kind   text NOT NULL CHECK (actor_kind IN ('user', 'carrier', 'ingest', 'system')),
    reason       text NOT NULL CHECK (reason ~ '^[a-z][a-z0-9_]{1,63}$'),
    evidence     jsonb NOT NULL DEFAULT '{}',
    recorded_at  timestamptz NOT NULL DEFAULT now(),
    CHECK (actor_kind <> 'user' OR actor_id IS NOT NULL),
    FOREIGN KEY (practice_id, device_id) REFERENCES devices (practice_id, id),
    FOREIGN KEY (practice_id, actor_id) REFERENCES users (practice_id, id)
);
CREATE INDEX device_custody_events_device ON device_custody_events (device_id, id);

CREATE FUNCTION carehub_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only', TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER device_custody_events_append_only BEFORE UPDATE OR DELETE ON device_custody_events
    FOR EACH ROW EXECUTE FUNCTION carehub_refuse_change();

-- Enrollment ----------------------------------------------------------------------------------------

ALTER TABLE patients
    -- CMS MBI format: C A AN N A AN N A A N N, letters without S L O I B Z (stored without dashes).
    ADD COLUMN mbi                text CHECK (mbi ~ '^[1-9][AC-HJKMNP-RT-Y][AC-HJKMNP-RT-Y0-9][0-9][AC-HJKMNP-RT-Y][AC-HJKMNP-RT-Y0-9][0-9][AC-HJKMNP-RT-Y]{2}[0-9]{2}$'),
    ADD COLUMN address_line1      text CHECK (length(address_line1) <= 200),
    ADD COLUMN address_line2      text CHECK (length(address_line2) <= 200),
    ADD COLUMN city               text CHECK (length(city) <= 100),
    ADD COLUMN state              text CHECK (state ~ '^[A-Z]{2}$'),
    ADD COLUMN postal_code        text CHECK (postal_code ~ '^[0-9]{5}(-[0-9]{4})?$'),
    -- RPM-ELIG-1 / CCM-ELIG-3: date of the last in-person or telehealth visit with the practice.
    ADD COLUMN last_visit_on      date;
CREATE UNIQUE INDEX patients_mbi ON patients (practice_id, mbi) WHERE mbi IS NOT NULL;

-- RPM-CONSENT-1 / CCM-CONSENT-1: who obtained consent, when, how, to which text.
CREATE TABLE consents (
    id                      uuid PRIMARY KEY,
    practice_id             uuid NOT NULL,
    patient_id              uuid NOT NULL,
    program                 text NOT NULL CHECK (program IN ('rpm', 'ccm')),
    modality                text NOT NULL CHECK (modality IN ('verbal', 'written')),
    obtained_at             timestamptz NOT NULL,
    obtained_by             uuid NOT NULL,
    text_version            text NOT NULL CHECK (text_version ~ '^[A-Za-z0-9._-]{1,40}$'),
    cost_sharing_explained  boolean NOT NULL,
    revoked_at              timestamptz,
    recorded_at             timestamptz NOT NULL DEFAULT now(),
    CHECK (revoked_at IS NULL OR revoked_at >= obtained_at),
    FOREIGN KEY (practice_id, patient_id) REFERENCES patients (practice_id, id),
    FOREIGN KEY (practice_id, obtained_by) REFERENCES users (practice_id, id)
);
CREATE INDEX consents_patient ON consents (patient_id, program);

CREATE TABLE program_enrollments (
    id                 uuid PRIMARY KEY,
    practice_id        uuid NOT NULL,
    patient_id         uuid NOT NULL,
    program            text NOT NULL CHECK (program IN ('rpm', 'ccm')),
    starts_on          date NOT NULL,
    ends_on            date,
    -- RPM-ELIG-3: the order names the practitioner and the condition monitored.
    ordering_user_id   uuid NOT NULL,
    ordering_npi       text CHECK (ordering_npi ~ '^[0-9]{10}$'),
    condition_icd10    text NOT NULL CHECK (condition_icd10 ~ '^[A-Z][0-9][0-9A-Z](\.?[0-9A-Z]{1,4})?$'),
    end_reason         text CHECK (end_reason ~ '^[a-z][a-z0-9_]{1,63}$'),
    created_at         timestamptz NOT NULL DEFAULT now(),
    CHECK (ends_on IS NULL OR ends_on >= starts_on),
    CHECK ((ends_on IS NULL) = (end_reason IS NULL)),
    FOREIGN KEY (practice_id, patient_id) REFERENCES patients (practice_id, id),
    FOREIGN KEY (practice_id, ordering_user_id) REFERENCES users (practice_id, id),
    UNIQUE (practice_id, id),
    CONSTRAINT program_enrollments_no_overlap
        EXCLUDE USING gist (patient_id WITH =, program WITH =, daterange(starts_on, ends_on, '[]') WITH &&)
);

-- Shipping ------------------------------------------------------------------------------------------

CREATE TABLE shipments (
    id               uuid PRIMARY KEY,
    practice_id      uuid NOT NULL,
    patient_id       uuid NOT NULL,
    direction        text NOT NULL CHECK (direction IN ('outbound', 'return')),
    carrier          text NOT NULL CHECK (carrier IN ('ups', 'usps', 'fedex')),
    tracking_number  text NOT NULL CHECK (tracking_number ~ '^[0-9A-Z]{10,34}$'),
    ship_date        date NOT NULL,
    address_line1    text NOT NULL CHECK (length(address_line1) BETWEEN 1 AND 200),
    address_line2    text CHECK (length(address_line2) <= 200),
    city             text NOT NULL CHECK (length(city) BETWEEN 1 AND 100),
    state            text NOT NULL CHECK (state ~ '^[A-Z]{2}$'),
    postal_code      text NOT NULL CHECK (postal_code ~ '^[0-9]{5}(-[0-9]{4})?$'),
    status           text NOT NULL DEFAULT 'pre_transit' CHECK (status IN (
        'pre_transit', 'in_transit', 'out_for_delivery', 'available_for_pickup', 'delivered',
        'return_to_sender', 'failure', 'cancelled', 'error', 'unknown')),
    delivered_at     timestamptz,
    delivered_event  text,
    created_by       uuid NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (practice_id, patient_id) REFERENCES patients (practice_id, id),
    FOREIGN KEY (practice_id, created_by) REFERENCES users (practice_id, id),
    UNIQUE (practice_id, id),
    -- Carriers recycle numbers: a shipment is the number on a ship date.
    UNIQUE (carrier, tracking_number, ship_date)
);
CREATE INDEX shipments_patient ON shipments (patient_id, created_at);

CREATE TABLE shipment_devices (
    practice_id  uuid NOT NULL,
    shipment_id  uuid NOT NULL,
    device_id    uuid NOT NULL,
    PRIMARY KEY (shipment_id, device_id),
    FOREIGN KEY (practice_id, shipment_id) REFERENCES shipments (practice_id, id),
    FOREIGN KEY (practice_id, device_id) REFERENCES devices (practice_id, id)
);
CREATE INDEX shipment_devices_device ON shipment_devices (device_id);

-- Carrier status events in the normalised form of reference §3.4 (EasyPost/Shippo). Shippo's
-- webhooks are not idempotent: the same carrier event arriving twice is one row.
CREATE TABLE shipment_events (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    practice_id       uuid NOT NULL,
    shipment_id       uuid NOT NULL,
    source            text NOT NULL CHECK (source IN ('easypost', 'shippo', 'manual')),
    carrier_event_id  text NOT NULL CHECK (length(carrier_event_id) BETWEEN 1 AND 128),
    status            text NOT NULL,
    status_detail     text CHECK (length(status_detail) <= 100),
    message           text CHECK (length(message) <= 500),
    occurred_at       timestamptz NOT NULL,
    city              text,
    state             text,
    postal_code       text,
    country           text,
    received_at       timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (practice_id, shipment_id) REFERENCES shipments (practice_id, id),
    UNIQUE (shipment_id, source, carrier_event_id)
);

-- Replacement ---------------------------------------------------------------------------------------

-- A replacement in progress: the old unit's patient (and hub) assignment closes at the replacement's
-- first accepted reading (§3.2), so late uploads from the old unit's memory still count.
CREATE TABLE device_replacements (
    id                uuid PRIMARY KEY,
    practice_id       uuid NOT NULL,
    patient_id        uuid NOT NULL,
    old_device_id     uuid NOT NULL,
    new_device_id     uuid NOT NULL,
    reason            text NOT NULL CHECK (reason ~ '^[a-z][a-z0-9_]{1,63}$'),
    requested_by      uuid NOT NULL,
    requested_at      timestamptz NOT NULL,
    closed_at         timestamptz,
    closed_by_reading text,
    CHECK (old_device_id <> new_device_id),
    FOREIGN KEY (practice_id, patient_id) REFERENCES patients (practice_id, id),
    FOREIGN KEY (practice_id, old_device_id) REFERENCES devices (practice_id, id),
    FOREIGN KEY (practice_id, new_device_id) REFERENCES devices (practice_id, id),
    FOREIGN KEY (practice_id, requested_by) REFERENCES users (practice_id, id)
);
CREATE UNIQUE INDEX device_replacements_open_new ON device_replacements (new_device_id) WHERE closed_at IS NULL;
CREATE UNIQUE INDEX device_replacements_open_old ON device_replacements (old_device_id) WHERE closed_at IS NULL;

-- Hubs: credentials and configuration -----------------------------------------------------------------

-- A hub's MQTT identity: the Mosquitto password-file entry (PBKDF2-SHA512 hash, never the password).
CREATE TABLE hub_credentials (
    id              uuid PRIMARY KEY,
    practice_id     uuid NOT NULL,
    hub_id          text NOT NULL,
    password_entry  text NOT NULL CHECK (password_entry ~ '^[A-Za-z0-9_.-]+:\$7\$[0-9]+\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$'),
    issued_at       timestamptz NOT NULL,
    issued_by       uuid,
    revoked_at      timestamptz,
    revoke_reason   text CHECK (revoke_reason ~ '^[a-z][a-z0-9_]{1,63}$'),
    CHECK ((revoked_at IS NULL) = (revoke_reason IS NULL)),
    FOREIGN KEY (practice_id, hub_id) REFERENCES hubs (practice_id, id),
    FOREIGN KEY (practice_id, issued_by) REFERENCES users (practice_id, id)
);
CREATE UNIQUE INDEX hub_credentials_current ON hub_credentials (hub_id) WHERE revoked_at IS NULL;

-- Per hub: the desired configuration version issued, the one published, and the one the hub reports.
CREATE TABLE hub_config_state (
    hub_id              text PRIMARY KEY REFERENCES hubs (id),
    desired_version     integer NOT NULL DEFAULT 0 CHECK (desired_version >= 0),
    published_version   integer NOT NULL DEFAULT 0 CHECK (published_version <= desired_version),
    reported_version    integer,
    reported_applied_at timestamptz,
    reported_errors     text[] NOT NULL DEFAULT '{}',
    reported_at         timestamptz
);

-- Hubs whose desired configuration must be rebuilt: written in the same transaction as the change
-- that caused it (by the trigger below), so a committed assignment change is never left unpublished.
CREATE TABLE hub_config_pending (
    hub_id      text PRIMARY KEY REFERENCES hubs (id),
    changed_at  timestamptz NOT NULL DEFAULT now()
);

-- The transactional outbox of desired configurations: each version once, published retained.
CREATE TABLE hub_config_outbox (
    hub_id        text NOT NULL REFERENCES hubs (id),
    version       integer NOT NULL CHECK (version >= 1),
    payload       bytea NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    published_at  timestamptz,
    -- a later version was issued before this one went out: only the newest is ever published
    superseded    boolean NOT NULL DEFAULT false,
    PRIMARY KEY (hub_id, version)
);
CREATE INDEX hub_config_outbox_unpublished ON hub_config_outbox (hub_id, version)
    WHERE published_at IS NULL AND NOT superseded;

CREATE FUNCTION carehub_mark_hub_config_pending() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO hub_config_pending (hub_id) VALUES (NEW.hub_id)
            ON CONFLICT (hub_id) DO UPDATE SET changed_at = now();
    END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        INSERT INTO hub_config_pending (hub_id) VALUES (OLD.hub_id)
            ON CONFLICT (hub_id) DO UPDATE SET changed_at = now();
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER device_hub_assignments_config AFTER INSERT OR UPDATE OR DELETE ON device_hub_assignments
    FOR EACH ROW EXECUTE FUNCTION carehub_mark_hub_config_pending();
