"""The laptop service (``dmc serve``): the pipeline kept warm behind an HTTP API.

``core`` holds the state and the work (warm models, the context cache, drafts, runs and
their events); ``app`` puts the HTTP API and its guards in front of it; ``client`` is what
``dmc run --service`` uses. Only ``app`` imports FastAPI.
"""
