-- Readings on plain PostgreSQL: native monthly range partitions created ahead of time, a default
-- partition as a safety net, and a daily per-patient summary maintained by a statement trigger.
-- The TimescaleDB variant of this migration (0002_readings.timescaledb.sql) exposes the same
-- columns, the same functions and the same reading_daily view.

CREATE FUNCTION carehub_storage() RETURNS text LANGUAGE sql IMMUTABLE AS $$ SELECT 'postgres' $$;

-- One row per observation (narrow). metric is the IEEE 11073-10101 32-bit code; value is in the
-- metric's canonical UCUM unit; source_value/source_unit keep what the device sent when converted.
-- A special value (NaN, NRes, +INF, -INF) is stored as special with no value, never as a number.
-- No foreign keys here on purpose: the only writer (ingest) resolves device, patient and practice
-- from the assignment tables inside the same transaction, and per-row FK checks would cost the
-- throughput of the hottest table.
CREATE TABLE readings (
    practice_id         uuid NOT NULL,
    patient_id          uuid NOT NULL,
    device_id           uuid NOT NULL,
    hub_id              text,
    reading_id          uuid NOT NULL,
    metric              integer NOT NULL,
    value               double precision,
    special             text CHECK (special IN ('NaN', 'NRes', '+INF', '-INF')),
    unit                text NOT NULL,
    source_value        double precision,
    source_unit         text,
    measured_at         timestamptz NOT NULL,
    measured_at_source  text NOT NULL,
    received_at         timestamptz NOT NULL,
    ingested_at         timestamptz NOT NULL DEFAULT now(),
    from_device_memory  boolean NOT NULL,
    flags               text[],
    CHECK ((value IS NULL) <> (special IS NULL)),
    -- The same device cannot measure the same metric twice at the same instant: a second row is a
    -- replay (device memory, a resend with a new reading_id), never a new reading.
    CONSTRAINT readings_once UNIQUE (device_id, metric, measured_at)
) PARTITION BY RANGE (measured_at);

CREATE INDEX readings_patient_metric_time ON readings (patient_id, metric, measured_at DESC);

CREATE TABLE readings_default PARTITION OF readings DEFAULT;

-- Create the monthly partitions covering [p_from, p_to). Rows that already landed in the default
-- partition for a month are moved into its new partition. Safe to call concurrently and often.
CREATE FUNCTION carehub_ensure_reading_partitions(p_from timestamptz, p_to timestamptz)
    RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    month_start  timestamp := date_trunc('month', p_from AT TIME ZONE 'UTC');
    lo           timestamptz;
    hi           timestamptz;
    part         text;
    created      integer := 0;
    stray        boolean;
BEGIN
    IF p_to <= p_from THEN
        RAISE EXCEPTION 'partition range is empty: % .. %', p_from, p_to;
    END IF;
    WHILE (month_start AT TIME ZONE 'UTC') < p_to LOOP
        lo := month_start AT TIME ZONE 'UTC';
        hi := (month_start + interval '1 month') AT TIME ZONE 'UTC';
        part := format('readings_p%s', to_char(month_start, 'YYYY_MM'));
        IF to_regclass(part) IS NULL THEN
            PERFORM pg_advisory_xact_lock(hashtext('carehub_ensure_reading_partitions'));
            IF to_regclass(part) IS NULL THEN
                LOCK TABLE readings_default IN SHARE ROW EXCLUSIVE MODE;
                SELECT EXISTS (SELECT 1 FROM readings_default WHERE measured_at >= lo AND measured_at < hi)
                  INTO stray;
                IF stray THEN
                    EXECUTE format('CREATE TABLE %I (LIKE readings INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', part);
                    EXECUTE format(
                        'WITH moved AS (DELETE FROM readings_default WHERE measured_at >= $1 AND measured_at < $2 '
                        'RETURNING *) INSERT INTO %I SELECT * FROM moved', part) USING lo, hi;
                    EXECUTE format('ALTER TABLE readings ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)',
                                   part, lo, hi);
                ELSE
                    EXECUTE format('CREATE TABLE %I PARTITION OF readings FOR VALUES FROM (%L) TO (%L)',
                                   part, lo, hi);
                END IF;
                created := created + 1;
            END IF;
        END IF;
        month_start := month_start + interval '1 month';
    END LOOP;
    RETURN created;
END
$$;

SELECT carehub_ensure_reading_partitions(now() - interval '2 months', now() + interval '3 months');

-- Daily per-patient, per-metric summary (UTC days), maintained in the inserting transaction.
CREATE TABLE reading_daily_summary (
    patient_id         uuid NOT NULL,
    metric             integer NOT NULL,
    day                date NOT NULL,
    practice_id        uuid NOT NULL,
    observations       integer NOT NULL CHECK (observations > 0),
    values_count       integer NOT NULL CHECK (values_count >= 0),
    min_value          double precision,
    max_value          double precision,
    sum_value          double precision,
    first_measured_at  timestamptz NOT NULL,
    last_measured_at   timestamptz NOT NULL,
    PRIMARY KEY (patient_id, metric, day)
);
CREATE INDEX reading_daily_summary_practice_day ON reading_daily_summary (practice_id, day);

-- Statement-level: sees exactly the rows the statement inserted (ON CONFLICT DO NOTHING skips
-- duplicates, so they never count). Upserts in key order so concurrent ingest workers cannot
-- deadlock on the same summary rows.
CREATE FUNCTION carehub_summarize_inserted_readings() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO reading_daily_summary AS s (
        patient_id, metric, day, practice_id, observations, values_count,
        min_value, max_value, sum_value, first_measured_at, last_measured_at)
    SELECT patient_id, metric, (measured_at AT TIME ZONE 'UTC')::date, practice_id,
           count(*), count(value), min(value), max(value), sum(value),
           min(measured_at), max(measured_at)
    FROM inserted
    GROUP BY patient_id, metric, (measured_at AT TIME ZONE 'UTC')::date, practice_id
    ORDER BY 1, 2, 3
    ON CONFLICT (patient_id, metric, day) DO UPDATE SET
        observations      = s.observations + excluded.observations,
        values_count      = s.values_count + excluded.values_count,
        min_value         = least(s.min_value, excluded.min_value),
        max_value         = greatest(s.max_value, excluded.max_value),
        sum_value         = CASE WHEN s.sum_value IS NULL THEN excluded.sum_value
                                 WHEN excluded.sum_value IS NULL THEN s.sum_value
                                 ELSE s.sum_value + excluded.sum_value END,
        first_measured_at = least(s.first_measured_at, excluded.first_measured_at),
        last_measured_at  = greatest(s.last_measured_at, excluded.last_measured_at);
    RETURN NULL;
END
$$;

CREATE TRIGGER readings_daily_summary
    AFTER INSERT ON readings
    REFERENCING NEW TABLE AS inserted
    FOR EACH STATEMENT EXECUTE FUNCTION carehub_summarize_inserted_readings();

-- Recompute the summary for [p_from, p_to) from the readings themselves (after a correction, or to
-- verify the maintained rows). Returns the number of summary rows written.
CREATE FUNCTION carehub_rebuild_reading_daily(p_from date, p_to date) RETURNS integer
    LANGUAGE plpgsql AS $$
DECLARE
    written integer;
BEGIN
    DELETE FROM reading_daily_summary WHERE day >= p_from AND day < p_to;
    INSERT INTO reading_daily_summary (
        patient_id, metric, day, practice_id, observations, values_count,
        min_value, max_value, sum_value, first_measured_at, last_measured_at)
    SELECT patient_id, metric, (measured_at AT TIME ZONE 'UTC')::date, practice_id,
           count(*), count(value), min(value), max(value), sum(value),
           min(measured_at), max(measured_at)
    FROM readings
    WHERE measured_at >= (p_from::timestamp AT TIME ZONE 'UTC')
      AND measured_at < (p_to::timestamp AT TIME ZONE 'UTC')
    GROUP BY patient_id, metric, (measured_at AT TIME ZONE 'UTC')::date, practice_id;
    GET DIAGNOSTICS written = ROW_COUNT;
    RETURN written;
END
$$;

-- What the API and reports read, identical on both storage paths.
CREATE VIEW reading_daily AS
SELECT practice_id, patient_id, metric, day, observations, values_count, min_value, max_value,
       CASE WHEN values_count > 0 THEN sum_value / values_count END AS mean_value,
       first_measured_at, last_measured_at
FROM reading_daily_summary;
