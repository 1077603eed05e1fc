"""The style learner: a project's coding conventions, learned from approved code.

:mod:`dmc.style.observe` reads one file with the language's parser; :mod:`dmc.style.profile`
keeps the evidence in SQLite (per project ``.dmc/style.db``, optionally per user), turns it
into preferred values with confidences, and scores how well a file follows them.
"""
