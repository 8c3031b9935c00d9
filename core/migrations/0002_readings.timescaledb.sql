-- Readings on TimescaleDB: a hypertable on measured_at (7-day chunks), compression of chunks older
-- than the oldest reading ingest accepts, segmented by patient, and a continuous aggregate of daily
-- per-patient summaries. Same columns, functions and reading_daily view as the plain-PostgreSQL
-- variant (0002_readings.postgres.sql); the migration runner picks one per database.

CREATE EXTENSION IF NOT EXISTS timescaledb;

CREATE FUNCTION carehub_storage() RETURNS text LANGUAGE sql IMMUTABLE AS $$ SELECT 'timescaledb' $$;

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
    CONSTRAINT readings_once UNIQUE (device_id, metric, measured_at)
);

SELECT create_hypertable('readings', 'measured_at', chunk_time_interval => INTERVAL '7 days');

CREATE INDEX readings_patient_metric_time ON readings (patient_id, metric, measured_at DESC);

-- Ingest accepts readings up to 30 days old; compress only chunks older than that (plus margin) so
-- late readings rarely land in compressed chunks (TimescaleDB handles it, but more slowly).
ALTER TABLE readings SET (
    timescaledb.compress,
    timescaledb.compress_segmentby = 'patient_id',
    timescaledb.compress_orderby = 'metric, measured_at DESC'
);
SELECT add_compression_policy('readings', INTERVAL '45 days');

-- Chunks are created on demand; nothing to do ahead of time. Kept so callers need not branch.
CREATE FUNCTION carehub_ensure_reading_partitions(p_from timestamptz, p_to timestamptz)
    RETURNS integer LANGUAGE sql AS $$ SELECT 0 $$;

-- Daily per-patient summaries (UTC days, as time_bucket('1 day', ...) buckets timestamptz).
-- materialized_only = false makes the view real-time: buckets not yet materialized are computed
-- from the raw rows at query time, so a reading is visible in the summary as soon as it commits.
CREATE MATERIALIZED VIEW reading_daily_cagg
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT time_bucket(INTERVAL '1 day', measured_at) AS bucket,
       practice_id, patient_id, metric,
       count(*) AS observations, count(value) AS values_count,
       min(value) AS min_value, max(value) AS max_value, sum(value) AS sum_value,
       min(measured_at) AS first_measured_at, max(measured_at) AS last_measured_at
FROM readings
GROUP BY bucket, practice_id, patient_id, metric
WITH NO DATA;

SELECT add_continuous_aggregate_policy('reading_daily_cagg',
    start_offset => INTERVAL '40 days',
    end_offset => INTERVAL '1 hour',
    schedule_interval => INTERVAL '30 minutes');

CREATE VIEW reading_daily AS
SELECT practice_id, patient_id, metric, (bucket AT TIME ZONE 'UTC')::date AS day,
       observations::integer AS observations, values_count::integer AS values_count,
       min_value, max_value,
       CASE WHEN values_count > 0 THEN sum_value / values_count END AS mean_value,
       first_measured_at, last_measured_at
FROM reading_daily_cagg;
