-- Practice isolation for the API (issue 8): PostgreSQL row-level security on every table that has a
-- practice_id column, enforced for the non-owner role carehub_api. The API connects as the owner and,
-- per transaction, runs SET LOCAL ROLE carehub_api and set_config('carehub.practice_id', ..., true) from
-- the authenticated user, so a query that forgets its WHERE clause still sees one practice only.
-- Other services (ingest, scheduler, notifier, provisioning) keep connecting as the owner, which RLS
-- does not restrict (the policies are not FORCEd).

-- Roles are cluster-wide and many databases migrate at once (tests, replicas): create it only when
-- missing, and tolerate a concurrent transaction creating it first.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'carehub_api') THEN
        BEGIN
            CREATE ROLE carehub_api NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE NOINHERIT;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN
            NULL;
        END;
    END IF;
END
$$;

-- The connecting (owner) user must be able to SET ROLE carehub_api; a superuser already can.
DO $$
BEGIN
    IF NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)
       AND NOT pg_has_role(current_user, 'carehub_api', 'MEMBER') THEN
        BEGIN
            EXECUTE format('GRANT carehub_api TO %I', current_user);
        EXCEPTION WHEN unique_violation OR duplicate_object THEN
            NULL;
        END;
    END IF;
END
$$;

GRANT USAGE ON SCHEMA public TO carehub_api;

-- Privileges of carehub_api on a tenant table when not the default (SELECT, INSERT, UPDATE, DELETE), as
-- a GRANT privilege list, column lists allowed ('SELECT (id, email), UPDATE (active)'); 'NONE' keeps a
-- table out of the API role's reach entirely (refresh tokens).
CREATE TABLE api_role_table_privileges (
    table_name  text PRIMARY KEY,
    privileges  text NOT NULL CHECK (
        privileges = 'NONE'
        OR privileges ~ '^(SELECT|INSERT|UPDATE|DELETE)( \([a-z_]+(, [a-z_]+)*\))?(, (SELECT|INSERT|UPDATE|DELETE)( \([a-z_]+(, [a-z_]+)*\))?)*$')
);

-- The practice the current transaction is scoped to; NULL when unset (then every policy sees nothing).
CREATE FUNCTION carehub_current_practice() RETURNS uuid
    LANGUAGE sql STABLE AS $$ SELECT nullif(current_setting('carehub.practice_id', true), '')::uuid $$;

-- Enable RLS with the practice_isolation policy on every base table of this schema that has a
-- practice_id column (partitions included), and grant carehub_api its privileges on them. Idempotent:
-- later migrations (and the lead after merging branches that add tables) call it again.
CREATE FUNCTION carehub_apply_practice_isolation() RETURNS integer
    LANGUAGE plpgsql AS $$
DECLARE
    t           record;
    privs       text;
    isolated    integer := 0;
BEGIN
    FOR t IN
        SELECT c.table_schema, c.table_name
          FROM information_schema.columns c
          JOIN information_schema.tables tb
            ON tb.table_schema = c.table_schema AND tb.table_name = c.table_name
         WHERE c.column_name = 'practice_id'
           AND tb.table_type = 'BASE TABLE'
           AND c.table_schema = current_schema()
         ORDER BY c.table_name
    LOOP
        EXECUTE format('ALTER TABLE %I.%I ENABLE ROW LEVEL SECURITY', t.table_schema, t.table_name);
        EXECUTE format('DROP POLICY IF EXISTS practice_isolation ON %I.%I', t.table_schema, t.table_name);
        EXECUTE format(
            'CREATE POLICY practice_isolation ON %I.%I TO carehub_api'
            ' USING (practice_id = carehub_current_practice())'
            ' WITH CHECK (practice_id = carehub_current_practice())',
            t.table_schema, t.table_name);
        SELECT p.privileges INTO privs FROM api_role_table_privileges p WHERE p.table_name = t.table_name;
        EXECUTE format('REVOKE ALL ON %I.%I FROM carehub_api', t.table_schema, t.table_name);
        IF coalesce(privs, '') <> 'NONE' THEN
            EXECUTE format('GRANT %s ON %I.%I TO carehub_api',
                           coalesce(privs, 'SELECT, INSERT, UPDATE, DELETE'), t.table_schema, t.table_name);
        END IF;
        isolated := isolated + 1;
    END LOOP;

    -- practices is keyed by its own id: a user sees their practice's row only.
    ALTER TABLE practices ENABLE ROW LEVEL SECURITY;
    DROP POLICY IF EXISTS practice_isolation ON practices;
    CREATE POLICY practice_isolation ON practices TO carehub_api USING (id = carehub_current_practice());
    GRANT SELECT ON practices TO carehub_api;
    RETURN isolated;
END
$$;

-- Hub configuration versions carry no practice_id; they follow the visibility of their hub (the
-- subquery runs under the caller's RLS on hubs).
ALTER TABLE hub_config_state ENABLE ROW LEVEL SECURITY;
CREATE POLICY practice_isolation ON hub_config_state TO carehub_api
    USING (EXISTS (SELECT 1 FROM hubs h WHERE h.id = hub_config_state.hub_id));
GRANT SELECT ON hub_config_state TO carehub_api;

-- The daily summary view must apply the reader's RLS, not its owner's (PostgreSQL 15). On the
-- TimescaleDB path carehub_api has no privilege on the continuous aggregate, so reads fail closed.
ALTER VIEW reading_daily SET (security_invoker = true);
GRANT SELECT ON reading_daily TO carehub_api;

-- Shared reference vocabularies (no tenant data).
GRANT SELECT ON device_kinds, device_kind_reading_kinds, icd10_condition_prefixes, icd10_condition_implications
    TO carehub_api;

SELECT carehub_apply_practice_isolation();
