-- Webhook signing secrets are stored sealed (alerts/secrets.py: 'fernet:' + a Fernet token under the
-- notifier's CAREHUB_NOTIFIER_SECRET_KEY), never in clear. NOT VALID: routes stored before this keep
-- working through the check (the notifier refuses them with the reason until an operator re-seals
-- them with `carehub alerts route-secret`), every new or changed webhook route must be sealed.
ALTER TABLE notification_routes
    ADD CONSTRAINT notification_routes_secret_sealed
    CHECK (channel <> 'webhook' OR secret LIKE 'fernet:%') NOT VALID;
