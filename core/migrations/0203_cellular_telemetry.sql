-- Cellular devices' telemetry from their vendors' webhooks (reference/cellular-and-logistics.md §0.6,
-- §3.1 engagement, §3.2 battery): heartbeats are proof of life that tells "patient stopped measuring"
-- from "device died"; battery arrives as a percentage (Tenovi) or as a voltage (BodyTrace, whose
-- percentage carehub estimates from the documented working range and marks as estimated).
ALTER TABLE device_telemetry
    ADD COLUMN battery_mv        integer CHECK (battery_mv > 0),
    -- battery_pct was estimated from battery_mv, not reported by the device
    ADD COLUMN battery_estimated boolean NOT NULL DEFAULT false,
    ADD COLUMN signal_dbm        integer CHECK (signal_dbm BETWEEN -200 AND 0),
    ADD COLUMN signal_at         timestamptz,
    -- latest vendor heartbeat (a message without a measurement); NULL: the device never sent one
    ADD COLUMN last_heartbeat_at timestamptz;
