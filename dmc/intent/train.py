"""Fit the intent model's weights (development and benchmark use; needs numpy).

The shipped classifier scores a handful of sparse features with plain dict look-ups, so the
run-time path never imports numpy. This module fits those weights: multinomial logistic
regression with L2, classes weighted to balance (the metric is macro accuracy, and an unseen
project's class mix is unknown), and a vocabulary limited to features seen in at least
``min_sources`` source projects, so that one project's vocabulary cannot become a cue.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dmc.intent.features import extract

#: Chosen by leave-one-project-out macro accuracy on intent-dev.jsonl (bench/bench_intent.py).
HYPERPARAMS: dict[str, float] = {"l2": 50.0, "lex_l2_scale": 0.05}

#: Features built from the hand-written lexicons and shapes: kept whatever the vocabulary
#: filter says, and regularised less, because they carry over between projects.
PORTABLE_PREFIXES: tuple[str, ...] = ("lex", "firstlex", "secondlex", "shape")

COMMIT_LABELS: tuple[str, ...] = (
    "feature_implementation", "bug_fix", "refactoring", "optimization", "documentation",
    "testing", "configuration",
)


@dataclass(frozen=True)
class Example:
    """One labelled request."""

    text: str
    label: str
    source: str


def load_examples(path: Path) -> list[Example]:
    """Read ``{"text", "label", "source"}`` lines."""
    out = []
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                row = json.loads(line)
                out.append(Example(row["text"], row["label"], row.get("source", "")))
    return out


def _vocabulary(feats: Sequence[dict[str, float]], sources: Sequence[str],
                min_sources: int, min_count: int) -> list[str]:
    seen_in: dict[str, set[str]] = defaultdict(set)
    counts: Counter[str] = Counter()
    for f, src in zip(feats, sources, strict=True):
        for name in f:
            seen_in[name].add(src)
            counts[name] += 1
    keep = []
    for name, srcs in seen_in.items():
        always = name == "bias" or name.startswith(PORTABLE_PREFIXES)
        if always or (len(srcs) >= min_sources and counts[name] >= min_count):
            keep.append(name)
    return sorted(keep)


def fit(examples: Iterable[Example], *, l2: float = 1.0, min_sources: int = 2,
        min_count: int = 2, epochs: int = 300, lr: float = 0.5,
        lex_l2_scale: float = 0.1) -> dict[str, Any]:
    """Fit weights; returns the JSON-ready model (labels, weights per feature)."""
    import numpy as np

    data = list(examples)
    labels = [lab for lab in COMMIT_LABELS if any(e.label == lab for e in data)]
    feats = [extract(e.text) for e in data]
    sources = [e.source for e in data]
    n_sources = len(set(sources))
    vocab = _vocabulary(feats, sources, min(min_sources, n_sources), min_count)
    index = {name: i for i, name in enumerate(vocab)}
    x = np.zeros((len(data), len(vocab)), dtype=np.float64)
    for row, f in enumerate(feats):
        for name, val in f.items():
            col = index.get(name)
            if col is not None:
                x[row, col] = val
    y = np.array([labels.index(e.label) for e in data])
    class_counts = np.bincount(y, minlength=len(labels)).astype(np.float64)
    sample_w = (len(y) / (len(labels) * class_counts))[y]
    sample_w /= sample_w.sum()
    onehot = np.eye(len(labels))[y]
    w = np.zeros((len(vocab), len(labels)))
    reg = np.full((len(vocab), 1), l2 / len(y))
    for name, i in index.items():  # the portable cues may speak louder than single words
        if name.startswith(PORTABLE_PREFIXES):
            reg[i] *= lex_l2_scale
    reg[index["bias"]] = 0.0
    m = np.zeros_like(w)
    v = np.zeros_like(w)
    for step in range(1, epochs + 1):  # Adam on the full batch: small data, exact gradient
        z = x @ w
        z -= z.max(axis=1, keepdims=True)
        p = np.exp(z)
        p /= p.sum(axis=1, keepdims=True)
        grad = x.T @ ((p - onehot) * sample_w[:, None]) + reg * w
        m = 0.9 * m + 0.1 * grad
        v = 0.999 * v + 0.001 * grad * grad
        w -= lr * 0.1 * (m / (1 - 0.9**step)) / (np.sqrt(v / (1 - 0.999**step)) + 1e-8)
    weights = {
        name: [round(float(val), 4) for val in w[i]]
        for name, i in index.items()
        if np.abs(w[i]).max() >= 1e-3
    }
    return {"labels": labels, "weights": weights}
