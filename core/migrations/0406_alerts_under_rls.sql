-- The alerts routes of the API (list, acknowledge, resolve, snooze, threshold overrides) run like every
-- other route: one transaction as carehub_api scoped to the caller's practice, so row-level security
-- confines them even if a query forgets its practice filter. The tables with practice_id already have
-- the practice_isolation policy and the default privileges (0400); this adds what those routes need
-- beyond them.

-- alert_readings carries no practice_id: a row is visible exactly when its alert is (the subquery runs
-- under the caller's RLS on alerts), as hub_config_state follows its hub.
ALTER TABLE alert_readings ENABLE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS practice_isolation ON alert_readings;
CREATE POLICY practice_isolation ON alert_readings TO carehub_api
    USING (EXISTS (SELECT 1 FROM alerts a WHERE a.id = alert_readings.alert_id));
GRANT SELECT ON alert_readings TO carehub_api;

-- Lifecycle changes append alert events and queue their notifications; override changes are versioned
-- rows. Identity columns need their sequences.
DO $$
DECLARE
    seq text;
BEGIN
    FOREACH seq IN ARRAY ARRAY[
        pg_get_serial_sequence('alert_events', 'id'),
        pg_get_serial_sequence('notification_outbox', 'id'),
        pg_get_serial_sequence('alert_evaluation_failures', 'id')
    ] LOOP
        EXECUTE format('GRANT USAGE ON SEQUENCE %s TO carehub_api', seq);
    END LOOP;
END
$$;

SELECT carehub_apply_practice_isolation();
