"""The desktop half: the HTTP agent (:mod:`dmc.remote.server`, ``dmc agent serve``) and the
client that ``dmc generate`` and ``dmc validate --remote`` use (:mod:`dmc.remote.client`).

The server imports FastAPI at module level and is only imported by the agent command; the
client imports httpx lazily, so neither costs the other stages any start-up time.
"""
