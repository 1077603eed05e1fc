"""The desktop agent and its client (``dmc agent serve``, ``generate``/``validate --remote``).

Planned in the agent issue; nothing here yet, and no command uses this package so far.
"""
