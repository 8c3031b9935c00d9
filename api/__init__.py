"""The practice-facing HTTP API (issue 8): FastAPI, split by domain (``auth``, ``patients``,
``readings``, ``hubs``, ``users``, ``audit``; each a router over a repository), built by
:func:`api.app.create_app` from settings and a connection pool that the entry point owns."""
