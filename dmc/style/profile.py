"""The style profile in SQLite: incremental, idempotent, safe with concurrent writers.

Each learned file's observations replace that file's previous ones (keyed by path), so
learning the same file twice counts it once, and a changed file is re-counted. Writes are
transactions in WAL mode. The profile is the sum over files: per language and feature, each
value's evidence count, the preferred value and a confidence (its share of the evidence,
discounted when there is little evidence).
"""

from __future__ import annotations

import hashlib
import sqlite3
import time
from pathlib import Path
from typing import Any

from dmc.contract import DmcError, Exit
from dmc.style.observe import Observation

MIN_EVIDENCE = 5
_SCHEMA = """
CREATE TABLE IF NOT EXISTS files (path TEXT PRIMARY KEY, sha TEXT NOT NULL,
    language TEXT NOT NULL, learned_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS observations (path TEXT NOT NULL, language TEXT NOT NULL,
    feature TEXT NOT NULL, value TEXT NOT NULL, count INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS observations_path ON observations(path);
"""
#: features where one value is a convention to follow (imports are preferences, not rules)
SCORED = ("naming.functions", "naming.classes", "naming.constants", "naming.files", "async",
          "quotes", "indentation", "docstrings.style", "type_hints", "semicolons",
          "errors.except_shape", "tests.framework")


class StyleDB:
    """One profile database."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(str(path), timeout=30, isolation_level=None)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA busy_timeout=30000")
            self.db.executescript(_SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise DmcError(f"style profile {path} is damaged ({exc})", Exit.UNAVAILABLE,
                           hint="dmc style reset") from None

    def learned(self, path: str) -> str | None:
        row = self.db.execute("SELECT sha FROM files WHERE path = ?", (path,)).fetchone()
        return row[0] if row else None

    def learn(self, path: str, text: str, language: str, observations: list[Observation]
              ) -> bool:
        """Record a file's observations; False when this exact content was learned."""
        sha = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
        if self.learned(path) == sha:
            return False
        self.db.execute("BEGIN IMMEDIATE")
        try:
            self.db.execute("DELETE FROM observations WHERE path = ?", (path,))
            self.db.executemany("INSERT INTO observations VALUES (?, ?, ?, ?, ?)",
                                [(path, language, f, v, n) for f, v, n in observations])
            self.db.execute("INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?)",
                            (path, sha, language, time.time()))
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        return True

    def profile(self) -> dict[str, Any]:
        """language -> feature -> {preferred, confidence, evidence, values}."""
        out: dict[str, Any] = {}
        rows = self.db.execute("SELECT language, feature, value, SUM(count) FROM observations "
                               "GROUP BY language, feature, value")
        for language, feature, value, n in rows:
            out.setdefault(language, {}).setdefault(feature, {})[value] = int(n)
        profile: dict[str, Any] = {}
        for language, features in out.items():
            profile[language] = {}
            for feature, values in features.items():
                evidence = sum(values.values())
                preferred, top = max(values.items(), key=lambda kv: (kv[1], kv[0]))
                confidence = top / evidence * min(1.0, evidence / MIN_EVIDENCE)
                entry: dict[str, Any] = {"preferred": preferred,
                                         "confidence": round(confidence, 3),
                                         "evidence": evidence}
                if feature == "imports":
                    entry = {"top": [k for k, _ in sorted(values.items(),
                                                          key=lambda kv: -kv[1])[:15]],
                             "evidence": evidence}
                else:
                    entry["values"] = dict(sorted(values.items(), key=lambda kv: -kv[1]))
                profile[language][feature] = entry
        files = self.db.execute("SELECT language, count(*) FROM files GROUP BY 1").fetchall()
        return {"languages": profile, "files": dict(files)}

    def reset(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")
        self.db.execute("DELETE FROM observations")
        self.db.execute("DELETE FROM files")
        self.db.execute("COMMIT")

    def close(self) -> None:
        self.db.close()


def merge(project: dict[str, Any], user: dict[str, Any] | None) -> dict[str, Any]:
    """The project profile, with the user profile filling features the project lacks."""
    if not user:
        return project
    merged = {"languages": {}, "files": project.get("files", {})}
    for language in set(project["languages"]) | set(user["languages"]):
        merged["languages"][language] = {**user["languages"].get(language, {}),
                                         **project["languages"].get(language, {})}
    return merged


def score(profile: dict[str, Any], language: str, observations: list[Observation],
          min_confidence: float = 0.6) -> dict[str, Any]:
    """How well a file's observations follow the profile: 0-1 and the deviations."""
    prefs = profile.get("languages", {}).get(language, {})
    weights = followed = 0
    deviations = []
    for feature, value, n in observations:
        pref = prefs.get(feature)
        if feature not in SCORED or not pref or pref.get("confidence", 0) < min_confidence:
            continue
        weights += n
        if value == pref["preferred"]:
            followed += n
        else:
            deviations.append({"feature": feature, "found": value, "count": n,
                               "expected": pref["preferred"],
                               "confidence": pref["confidence"]})
    return {"score": round(followed / weights, 3) if weights else None,
            "checked": weights, "deviations": sorted(deviations, key=lambda d: -d["count"])}


def preferences(profile: dict[str, Any], min_confidence: float = 0.6) -> dict[str, Any]:
    """The confident preferences, flattened for the payload's ``style``."""
    out: dict[str, Any] = {}
    for language, features in profile.get("languages", {}).items():
        for feature, entry in features.items():
            if feature == "imports":
                out[f"{language}.preferred_libraries"] = ", ".join(entry["top"][:8])
            elif entry.get("confidence", 0) >= min_confidence:
                out[f"{language}.{feature}"] = entry["preferred"]
    return out
