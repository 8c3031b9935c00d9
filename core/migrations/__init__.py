"""Ordered SQL migrations, applied by :mod:`core.migrate`.

Files are named ``NNNN_name.sql``, or ``NNNN_name.<storage>.sql`` when a step differs between
TimescaleDB (``timescaledb``) and plain PostgreSQL (``postgres``); exactly one variant of a step is
applied to a database, chosen once and recorded."""
