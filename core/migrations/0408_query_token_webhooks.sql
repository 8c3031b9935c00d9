-- Shippo tracking webhooks (reference/cellular-and-logistics.md §3.4: "a self-generated token in the URL
-- query string"): scheme query_token, the token kept as its SHA-256 like the basic and header secrets.
-- carehub's access log never records query strings; a proxy in front must not either.
ALTER TABLE webhook_credentials
    DROP CONSTRAINT webhook_credentials_scheme_check,
    ADD CONSTRAINT webhook_credentials_scheme_check
        CHECK (scheme IN ('basic', 'header', 'hmac_sha256', 'easypost_hmac', 'query_token'));
