-- Carrier tracking webhooks on the vendor-webhook route (reference/cellular-and-logistics.md §3.4):
-- EasyPost signs the raw body with HMAC-SHA256 under the webhook's secret and sends
-- `X-Hmac-Signature: hmac-sha256-hex=<hex>` (no timestamp; its events are idempotent by id). The key
-- must be read back to verify, so it is kept sealed like carehub's own hmac_sha256 scheme.
ALTER TABLE webhook_credentials
    DROP CONSTRAINT webhook_credentials_scheme_check,
    DROP CONSTRAINT webhook_credentials_check,
    DROP CONSTRAINT webhook_credentials_check1,
    ADD CONSTRAINT webhook_credentials_scheme_check
        CHECK (scheme IN ('basic', 'header', 'hmac_sha256', 'easypost_hmac')),
    ADD CONSTRAINT webhook_credentials_sealed_check
        CHECK ((scheme IN ('hmac_sha256', 'easypost_hmac')) = (secret_encrypted IS NOT NULL)),
    ADD CONSTRAINT webhook_credentials_digest_check
        CHECK ((scheme NOT IN ('hmac_sha256', 'easypost_hmac')) = (secret_sha256 IS NOT NULL));
