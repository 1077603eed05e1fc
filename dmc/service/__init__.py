"""The laptop service (``dmc serve``): the pipeline kept warm behind an HTTP API.

``core`` holds the state and the work (warm models, the context cache, drafts, runs and
their events); ``warm`` the generation backend teed to the running run (token events);
``metrics`` the dashboard's records and figures; ``app`` puts the HTTP API, its guards and
the web UI (static files in ``web/``) in front of it; ``webauth`` the browser's one-time
login; ``client`` is what ``dmc run --service`` uses. Only ``app`` imports FastAPI.
"""
