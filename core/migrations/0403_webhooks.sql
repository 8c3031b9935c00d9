-- Vendor webhooks (issue 8 item 5; reference/cellular-and-logistics.md §0-§2): the credentials each
-- practice gives its cellular vendors, every request's raw envelope stored before anything else, and
-- the signatures already seen inside the replay window.
--
-- Tenancy. A request arrives on /webhooks/{vendor} with no practice in it: the practice is known only
-- once a credential has matched. An envelope is therefore stored with practice_id NULL and gets the
-- practice of the credential that authenticated it (refused ones keep NULL: they belong to no one).
-- The tables do carry practice_id, so carehub_apply_practice_isolation() puts its policy on them, but
-- the API role gets no privilege on them at all ('NONE'): raw bodies and secrets are read only by the
-- webhook route and the `carehub webhooks` command, which run as the owner like ingest does. A future
-- practice-facing view of envelopes would grant SELECT on chosen columns and rely on that policy.

-- One credential = one way a vendor proves it speaks for one practice. Secrets are never stored in
-- clear: a shared secret the vendor presents (HTTP Basic password, a static header value) is kept as
-- its SHA-256 (carehub generates them with 256 bits of entropy, so a plain digest is enough); an HMAC
-- signing key must be read back to verify, so it is kept encrypted (Fernet) under
-- CAREHUB_WEBHOOK_SECRET_KEY, which lives in the environment, never in the database or the repository.
CREATE TABLE webhook_credentials (
    id                uuid PRIMARY KEY,
    practice_id       uuid NOT NULL REFERENCES practices (id),
    vendor            text NOT NULL CHECK (vendor ~ '^[a-z][a-z0-9_-]{1,39}$'),
    scheme            text NOT NULL CHECK (scheme IN ('basic', 'header', 'hmac_sha256')),
    -- basic: the user name; header: the header's name (lower case); hmac_sha256: a label
    key_id            text NOT NULL CHECK (length(key_id) BETWEEN 1 AND 100),
    secret_sha256     bytea CHECK (length(secret_sha256) = 32),
    secret_encrypted  bytea,
    created_at        timestamptz NOT NULL DEFAULT now(),
    revoked_at        timestamptz,
    CHECK ((scheme = 'hmac_sha256') = (secret_encrypted IS NOT NULL)),
    CHECK ((scheme <> 'hmac_sha256') = (secret_sha256 IS NOT NULL)),
    UNIQUE (practice_id, id)
);
-- A basic user name must name one credential per vendor, or a request could match two practices.
CREATE UNIQUE INDEX webhook_credentials_basic_user
    ON webhook_credentials (vendor, key_id) WHERE scheme = 'basic' AND revoked_at IS NULL;
CREATE UNIQUE INDEX webhook_credentials_secret
    ON webhook_credentials (vendor, secret_sha256) WHERE secret_sha256 IS NOT NULL AND revoked_at IS NULL;
CREATE INDEX webhook_credentials_vendor ON webhook_credentials (vendor) WHERE revoked_at IS NULL;

-- Every request to /webhooks/{vendor}, committed before it is authenticated and before it is
-- answered. The received part (vendor .. body_sha256) never changes and no row is ever deleted
-- (trigger below); what happened to it (auth_*, state, outcome) is filled in afterwards.
CREATE TABLE webhook_envelopes (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    vendor          text NOT NULL CHECK (vendor ~ '^[a-z][a-z0-9_-]{1,39}$'),
    received_at     timestamptz NOT NULL,
    -- selected headers only (content type, signature and timestamp, user agent); never a secret
    headers         jsonb NOT NULL,
    body            bytea NOT NULL,
    body_sha256     bytea NOT NULL CHECK (length(body_sha256) = 32),
    client_address  inet,
    practice_id     uuid REFERENCES practices (id),
    credential_id   uuid REFERENCES webhook_credentials (id),
    auth_outcome    text NOT NULL DEFAULT 'pending' CHECK (auth_outcome IN (
        'pending', 'accepted', 'no_credentials', 'missing_credentials', 'bad_credentials', 'bad_signature',
        'stale_timestamp', 'replayed')),
    auth_detail     text,
    state           text NOT NULL DEFAULT 'received' CHECK (state IN ('received', 'refused', 'processed')),
    processed_at    timestamptz,
    attempts        integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    -- counts and per-record results of normalisation (no values: those are in readings/dead_letters)
    outcome         jsonb,
    last_error      text,
    CHECK ((auth_outcome = 'accepted') = (practice_id IS NOT NULL)),
    CHECK (state <> 'processed' OR (auth_outcome = 'accepted' AND processed_at IS NOT NULL)),
    CHECK (state <> 'refused' OR auth_outcome NOT IN ('pending', 'accepted'))
);
CREATE INDEX webhook_envelopes_unprocessed ON webhook_envelopes (id)
    WHERE state = 'received' AND auth_outcome = 'accepted';
CREATE INDEX webhook_envelopes_practice ON webhook_envelopes (practice_id, received_at) WHERE practice_id IS NOT NULL;
CREATE INDEX webhook_envelopes_received ON webhook_envelopes (received_at);

CREATE FUNCTION carehub_webhook_envelopes_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND (NEW.vendor, NEW.received_at, NEW.headers, NEW.body, NEW.body_sha256, NEW.client_address)
            IS NOT DISTINCT FROM (OLD.vendor, OLD.received_at, OLD.headers, OLD.body, OLD.body_sha256, OLD.client_address)
    THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'webhook_envelopes keeps what was received (% refused)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER webhook_envelopes_append_only BEFORE UPDATE OR DELETE ON webhook_envelopes
    FOR EACH ROW EXECUTE FUNCTION carehub_webhook_envelopes_append_only();
CREATE TRIGGER webhook_envelopes_no_truncate BEFORE TRUNCATE ON webhook_envelopes
    FOR EACH STATEMENT EXECUTE FUNCTION carehub_webhook_envelopes_append_only();

-- Signatures of accepted signed requests: the same signature seen again is a replay. A signature
-- older than the replay window cannot pass the timestamp check any more, so rows past twice the
-- window are pruned (by the webhook route, a few at a time). No practice_id and no grant: owner-only.
CREATE TABLE webhook_replay_cache (
    credential_id     uuid NOT NULL REFERENCES webhook_credentials (id),
    signature_sha256  bytea NOT NULL CHECK (length(signature_sha256) = 32),
    signed_at         timestamptz NOT NULL,
    seen_at           timestamptz NOT NULL,
    envelope_id       bigint NOT NULL REFERENCES webhook_envelopes (id),
    PRIMARY KEY (credential_id, signature_sha256)
);
CREATE INDEX webhook_replay_cache_seen ON webhook_replay_cache (seen_at);

INSERT INTO api_role_table_privileges (table_name, privileges)
VALUES ('webhook_credentials', 'NONE'), ('webhook_envelopes', 'NONE');
SELECT carehub_apply_practice_isolation();
