"""The embedded intent classifier: lexicon-guided linear model, no server, no download.

Scoring is a sum of weights over a few dozen sparse features, done with dict look-ups, so a
request costs microseconds and the module imports nothing heavy. A second voice, the
request's WordPiece tokens scored by a table distilled from MiniLM
(:mod:`dmc.intent.wordvec`), is averaged in with the weight ``alpha``: it knows what words
*mean*, which is what carries to a project whose words the training data never used. The
weights, the table and ``alpha`` (``model.json``) are fitted and chosen by
:mod:`dmc.intent.train` on real commit subjects; the conversational task types
(explanation, code review), complexity and domain come from rules, since commit histories do
not contain them.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

import orjson

from dmc.intent.features import extract, stem, tokenize
from dmc.intent.lexicon import (
    DOMAIN_CUES,
    HIGH_COMPLEXITY_CUES,
    LOW_COMPLEXITY_CUES,
    QUESTION_OPENERS,
    REVIEW_OPENERS,
)
from dmc.intent.wordvec import TokenScores

TASK_TYPES: tuple[str, ...] = (
    "feature_implementation", "bug_fix", "refactoring", "optimization", "testing",
    "documentation", "configuration", "explanation", "code_review",
)
DOMAINS: tuple[str, ...] = (*DOMAIN_CUES, "general")
COMPLEXITIES: tuple[str, ...] = ("low", "medium", "high")
METHOD = "local-linear-v2"

_ACTION_AFTER_HOW = re.compile(
    r"^(how (do|can|should|would) (i|we|you)|how to|can you|could you|please|help me)\b"
    r"(?!\s+(understand|explain|know|tell))"
)


@dataclass(frozen=True)
class LinearModel:
    """Labels and per-feature weight rows, as fitted by :func:`dmc.intent.train.fit`."""

    labels: tuple[str, ...]
    weights: dict[str, list[float]]
    wordvec: TokenScores | None = None
    alpha: float = 0.0

    def scores(self, feats: dict[str, float]) -> list[float]:
        """Raw class scores."""
        total = [0.0] * len(self.labels)
        for name, value in feats.items():
            row = self.weights.get(name)
            if row is not None:
                for i, w in enumerate(row):
                    total[i] += value * w
        return total

    def contributions(self, feats: dict[str, float], label: str) -> list[tuple[str, float]]:
        """Features that pushed towards ``label``, strongest first (the 'signals')."""
        i = self.labels.index(label)
        out = [(n, v * self.weights[n][i]) for n, v in feats.items()
               if n != "bias" and n in self.weights]
        return sorted((c for c in out if c[1] > 0), key=lambda c: -c[1])

    def probabilities(self, text: str, feats: dict[str, float]) -> list[float]:
        """Class probabilities: the linear model's, averaged with the word-vector voice's
        (weight ``alpha``) when the model has one and it knows a token of the text."""
        probs = softmax(self.scores(feats))
        if self.wordvec is None or self.alpha <= 0:
            return probs
        other = self.wordvec.class_scores(text)
        if other is None:
            return probs
        return [(1 - self.alpha) * p + self.alpha * q
                for p, q in zip(probs, softmax(other), strict=True)]


@lru_cache(maxsize=1)
def load_model() -> LinearModel:
    """The packaged weights (read once per process)."""
    raw = resources.files("dmc.intent").joinpath("model.json").read_bytes()
    data = orjson.loads(raw)
    wordvec = TokenScores.from_json(data["wordvec"]) if "wordvec" in data else None
    if wordvec is not None and wordvec.labels != tuple(data["labels"]):
        raise ValueError("model.json: the word-vector table's labels differ from the model's")
    return LinearModel(tuple(data["labels"]), data["weights"], wordvec,
                       float(data.get("alpha", 0.0)))


def softmax(scores: list[float]) -> list[float]:
    """Probabilities from raw scores."""
    top = max(scores)
    exps = [math.exp(s - top) for s in scores]
    total = sum(exps)
    return [e / total for e in exps]


def classify(text: str, *, min_confidence: float = 0.5) -> dict[str, Any]:
    """The ``intent`` object for one request."""
    lowered = " ".join(text.lower().split())
    tokens, _ = tokenize(text)
    words = [t for t in tokens if t]
    stems = {stem(t) for t in words}

    conversational = _conversational(lowered)
    model = load_model()
    feats = extract(text)
    probs = model.probabilities(text, feats)
    ranked = sorted(zip(model.labels, probs, strict=True), key=lambda p: -p[1])
    if conversational is not None:
        task_type, confidence, signals = conversational
        alternatives = {task_type: round(confidence, 3)}
        alternatives.update({lab: round(p * (1 - confidence), 3) for lab, p in ranked[:2]})
    else:
        task_type, confidence = ranked[0]
        signals = [_describe(name, weight) for name, weight
                   in model.contributions(feats, task_type)[:5]]
        alternatives = {lab: round(p, 3) for lab, p in ranked[:3]}
    domain, domain_signals = _domain(words)
    complexity, complexity_signals = _complexity(words, stems, lowered, task_type)
    intent: dict[str, Any] = {
        "task_type": task_type,
        "complexity": complexity,
        "domain": domain,
        "confidence": round(confidence, 3),
        "signals": signals + domain_signals + complexity_signals,
        "alternatives": alternatives,
        "method": METHOD,
    }
    intent["low_confidence"] = confidence < min_confidence
    return intent


def _conversational(lowered: str) -> tuple[str, float, list[str]] | None:
    """Questions and review requests: decided by how the request opens."""
    first = lowered.split(" ", 1)[0].strip("?,.!:")
    for opener in REVIEW_OPENERS:
        if lowered.startswith(opener + " ") and not lowered.startswith("check in"):
            return "code_review", 0.85, [f"opens with '{opener}'"]
    if _ACTION_AFTER_HOW.match(lowered):
        return None  # "how do I add X" asks for a change, not an explanation
    asks = lowered.rstrip().endswith("?")
    if first in QUESTION_OPENERS or any(lowered.startswith(o + " ") for o in QUESTION_OPENERS
                                        if " " in o):
        return "explanation", (0.9 if asks else 0.75), [f"opens with question word '{first}'"]
    if asks:
        return "explanation", 0.6, ["ends with a question mark"]
    return None


def _describe(name: str, weight: float) -> str:
    kind, _, value = name.partition(":")
    label = {
        "w": f"word '{value}'", "b": f"phrase '{value.replace('_', ' ')}'",
        "first": f"opens with '{value}'", "first2": f"opens with '{value.replace('_', ' ')}'",
        "lex": f"{value} vocabulary", "lex2": f"several {value} words",
        "firstlex": f"opening verb is {value} vocabulary",
        "secondlex": f"object is {value} vocabulary", "shape": f"shape: {value}",
    }.get(kind, name)
    return f"{label} (+{weight:.2f})"


def _domain(words: list[str]) -> tuple[str, list[str]]:
    counts: dict[str, list[str]] = {}
    present = set(words) | {stem(w) for w in words}
    for domain, cues in DOMAIN_CUES.items():
        hits = [c for c in cues if c in present]
        if hits:
            counts[domain] = hits
    if not counts:
        return "general", []
    best = max(counts, key=lambda d: (len(counts[d]), -DOMAINS.index(d)))
    return best, [f"domain cues: {', '.join(counts[best][:4])}"]


def _complexity(words: list[str], stems: set[str], lowered: str,
                task_type: str) -> tuple[str, list[str]]:
    score = 0.0
    reasons: list[str] = []
    n = len(words)
    if n >= 14:
        score += 1.0
        reasons.append(f"{n} words")
    elif n <= 4:
        score -= 0.5
    high = [c for c in HIGH_COMPLEXITY_CUES if c in stems or c in words]
    low = [c for c in LOW_COMPLEXITY_CUES if c in stems or c in words]
    score += 0.8 * min(len(high), 3) - 0.8 * min(len(low), 2)
    if high:
        reasons.append("broad scope: " + ", ".join(high[:3]))
    if low:
        reasons.append("narrow scope: " + ", ".join(low[:3]))
    parts = len(re.findall(r"\band\b|,|;|\bthen\b|\bplus\b", lowered))
    if parts:
        score += 0.5 * min(parts, 3)
        reasons.append(f"{parts + 1} parts")
    if task_type in ("documentation", "configuration", "explanation"):
        score -= 0.5
    if task_type in ("feature_implementation", "refactoring", "optimization"):
        score += 0.3
    level = "high" if score >= 1.6 else "low" if score <= -0.2 else "medium"
    return level, ([f"complexity: {'; '.join(reasons)}"] if reasons else [])
