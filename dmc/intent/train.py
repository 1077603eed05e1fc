"""Fit and select the intent model (development and benchmark use; needs numpy).

The shipped classifier scores a handful of sparse features with plain dict look-ups, so the
run-time path never imports numpy. This module fits those weights: multinomial logistic
regression with L2, classes weighted to balance (the metric is macro accuracy, and an unseen
project's class mix is unknown), and a vocabulary limited to features seen in at least
``min_sources`` source projects, so that one project's vocabulary cannot become a cue.

Every setting is chosen by :func:`select`: leave-one-project-out over the projects it is
given. The benchmark calls it inside each outer fold (nested leave-one-project-out), so the
project a figure is reported on never took part in choosing the settings it was scored with.
"""

from __future__ import annotations

import itertools
import json
import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dmc.intent.features import extract

#: Settings of the shipped model before nested selection (kept as the "current model"
#: baseline in bench/bench_intent.py; chosen on plain LOPO over three projects).
LEGACY_PARAMS: dict[str, Any] = {"l2": 50.0, "lex_l2_scale": 0.05}

#: The candidates :func:`select` tries. Small on purpose: each value is a question about
#: what carries across projects (how much to trust single words; how much the word
#: meanings distilled from MiniLM should count, and how smooth they should be),
#: not a fine grid to fit one data set.
GRID: dict[str, tuple[Any, ...]] = {
    "l2": (20.0, 60.0, 150.0),
    "wv_l2": (0.003, 0.01, 0.03),
    "alpha": (0.0, 0.2, 0.35, 0.5),
}
#: Settings of the sparse model that :func:`fit` takes (the rest of a candidate is the
#: word-vector model's ``wv_l2`` and the fusion weight ``alpha``).
SPARSE_KEYS = ("l2", "min_sources", "lex_l2_scale", "balance", "drop")

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
        min_count: int = 2, epochs: int = 120, lr: float = 0.5,
        lex_l2_scale: float = 0.1, balance: str = "class", drop: tuple[str, ...] = (),
        features: dict[str, dict[str, float]] | None = None) -> dict[str, Any]:
    """Fit weights; returns the JSON-ready model (labels, weights per feature).

    ``balance``: "class" weights each class to the same total; "source_class" weights each
    (project, class) cell to the same total within its class, so a project with many
    subjects of a kind does not set what that kind sounds like. ``drop``: feature kinds
    (the part of a name before ``:``) to leave out. ``features`` is a cache of
    :func:`extract` results by text (selection fits hundreds of models on the same texts).
    """
    import numpy as np

    data = list(examples)
    labels = [lab for lab in COMMIT_LABELS if any(e.label == lab for e in data)]
    feats = [features[e.text] if features is not None and e.text in features
             else extract(e.text) for e in data]
    sources = [e.source for e in data]
    n_sources = len(set(sources))
    vocab = _vocabulary(feats, sources, min(min_sources, n_sources), min_count)
    if drop:  # feature kinds left out (``w:``, ``b:``...): a question selection may ask
        vocab = [name for name in vocab if name.split(":", 1)[0] not in drop]
    index = {name: i for i, name in enumerate(vocab)}
    rows: list[int] = []
    cols: list[int] = []
    vals: list[float] = []
    for row, f in enumerate(feats):
        for name, val in f.items():
            col = index.get(name)
            if col is not None:
                rows.append(row)
                cols.append(col)
                vals.append(val)
    # sparse products by reduceat: every row has the bias and every vocabulary column
    # occurs, so no segment is empty
    r = np.array(rows)
    c = np.array(cols)
    v = np.array(vals, dtype=np.float32)[:, None]
    row_starts = np.flatnonzero(np.r_[True, r[1:] != r[:-1]])
    by_col = np.argsort(c, kind="stable")
    c_sorted, r_by_col, v_by_col = c[by_col], r[by_col], v[by_col]
    col_starts = np.flatnonzero(np.r_[True, c_sorted[1:] != c_sorted[:-1]])
    n = len(data)
    y = np.array([labels.index(e.label) for e in data])
    sample_w = _sample_weights(y, sources, len(labels), balance)
    onehot = np.eye(len(labels), dtype=np.float32)[y]
    w = np.zeros((len(vocab), len(labels)), dtype=np.float32)
    reg = np.full((len(vocab), 1), l2 / n, dtype=np.float32)
    for name, i in index.items():  # the portable cues may speak louder than single words
        if name.startswith(PORTABLE_PREFIXES):
            reg[i] *= lex_l2_scale
    reg[index["bias"]] = 0.0
    m = np.zeros_like(w)
    s = np.zeros_like(w)
    for step in range(1, epochs + 1):  # Adam on the full batch: small data, exact gradient
        z = np.add.reduceat(v * np.take(w, c, axis=0), row_starts, axis=0)
        z -= z.max(axis=1, keepdims=True)
        p = np.exp(z)
        p /= p.sum(axis=1, keepdims=True)
        g_rows = (p - onehot) * sample_w[:, None].astype(np.float32)
        grad = np.add.reduceat(v_by_col * np.take(g_rows, r_by_col, axis=0), col_starts,
                               axis=0) + reg * w
        m = 0.9 * m + 0.1 * grad
        s = 0.999 * s + 0.001 * grad * grad
        w -= lr * 0.1 * (m / (1 - 0.9**step)) / (np.sqrt(s / (1 - 0.999**step)) + 1e-8)
    weights = {
        name: [round(float(val), 4) for val in w[i]]
        for name, i in index.items()
        if np.abs(w[i]).max() >= 1e-3
    }
    return {"labels": labels, "weights": weights}


def _sample_weights(y: Any, sources: Sequence[str], n_labels: int, balance: str) -> Any:
    """Per-example weights summing to 1 (see :func:`fit`'s ``balance``)."""
    import numpy as np

    class_counts = np.bincount(y, minlength=n_labels).astype(np.float64)
    if balance == "class":
        sample_w = (len(y) / (n_labels * np.maximum(class_counts, 1)))[y]
    elif balance == "source_class":
        cells = Counter(zip(sources, y.tolist(), strict=True))
        per_class = Counter(lab for _, lab in cells)  # projects that have the class
        sample_w = np.array([1.0 / (per_class[lab] * cells[(src, lab)])
                             for src, lab in zip(sources, y.tolist(), strict=True)])
    else:
        raise ValueError(f"unknown balance {balance!r}")
    return sample_w / sample_w.sum()


def predict(model: dict[str, Any], feats: dict[str, float]) -> str:
    """The top label of a fitted model (dict form) for one feature vector."""
    labels, weights = model["labels"], model["weights"]
    total = [0.0] * len(labels)
    for name, value in feats.items():
        row = weights.get(name)
        if row is not None:
            for i, wt in enumerate(row):
                total[i] += value * wt
    return str(labels[max(range(len(labels)), key=total.__getitem__)])


def macro_accuracy(pairs: Sequence[tuple[str, str]]) -> float:
    """Mean per-class recall over the gold classes present (the benchmark's metric)."""
    total = Counter(gold for gold, _ in pairs)
    right = Counter(gold for gold, pred in pairs if gold == pred)
    return sum(right[lab] / total[lab] for lab in total) / len(total)


# --- the word-vector voice (see dmc.intent.wordvec) -------------------------------------

def token_vectors(cache: bool = True) -> tuple[dict[str, int], Any]:
    """(WordPiece vocabulary, one MiniLM vector per token, centred) — each token embedded
    on its own as ``[CLS] token [SEP]``. About a minute on two cores; cached on disk."""
    import numpy as np

    from dmc.rag import embed

    folder = embed.package_dir()
    tokens = (folder / "vocab.txt").read_text(encoding="utf-8").split("\n")
    if tokens and tokens[-1] == "":
        tokens.pop()
    vocab = {t: i for i, t in enumerate(tokens)}
    path = embed.cache_dir() / f"intent-token-vectors-{embed.onnx_path().stem}.npy"
    if cache and path.is_file():
        return vocab, np.load(path)
    session = embed.load().session
    out = np.zeros((len(tokens), embed.DIM), dtype=np.float32)
    for start in range(0, len(tokens), 1024):
        ids = np.array([[101, i, 102] for i in range(start, min(len(tokens), start + 1024))],
                       dtype=np.int64)
        (vecs,) = session.run(None, {"input_ids": ids, "attention_mask": np.ones_like(ids),
                                     "token_type_ids": np.zeros_like(ids)})
        out[start:start + len(ids)] = vecs
    out -= out.mean(axis=0)
    if cache:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, out)
    return vocab, out


def sentence_vectors(texts: Sequence[str], vocab: dict[str, int], vectors: Any) -> Any:
    """Mean token vector of each text (zeros when no token is known)."""
    import numpy as np

    from dmc.intent.wordvec import wordpieces

    out = np.zeros((len(texts), vectors.shape[1]), dtype=np.float32)
    for row, text in enumerate(texts):
        ids = wordpieces(text, vocab)
        if ids:
            out[row] = vectors[ids].mean(axis=0)
    return out


def fit_wordvec(x: Any, examples: Sequence[Example], labels: Sequence[str], vectors: Any,
                vocab: dict[str, int], *, wv_l2: float, epochs: int = 200,
                balance: str = "class") -> Any:
    """Softmax regression on standardised mean token vectors, turned into per-token class
    scores (:class:`dmc.intent.wordvec.TokenScores`)."""
    from array import array

    import numpy as np

    from dmc.intent.wordvec import TokenScores

    mu = x.mean(axis=0)
    sd = x.std(axis=0) + 1e-6
    z_in = np.hstack([(x - mu) / sd, np.ones((len(x), 1), dtype=np.float32)])  # + bias
    y = np.array([labels.index(e.label) for e in examples])
    sample_w = _sample_weights(y, [e.source for e in examples], len(labels), balance)
    onehot = np.eye(len(labels), dtype=np.float32)[y]
    w = np.zeros((z_in.shape[1], len(labels)), dtype=np.float32)
    reg = np.full((z_in.shape[1], 1), wv_l2, dtype=np.float32)
    reg[-1] = 0.0
    m = np.zeros_like(w)
    s = np.zeros_like(w)
    for step in range(1, epochs + 1):  # Adam on the full batch, as in fit()
        z = z_in @ w
        z -= z.max(axis=1, keepdims=True)
        p = np.exp(z)
        p /= p.sum(axis=1, keepdims=True)
        grad = z_in.T @ ((p - onehot) * sample_w[:, None].astype(np.float32)) + reg * w
        m = 0.9 * m + 0.1 * grad
        s = 0.999 * s + 0.001 * grad * grad
        w -= 0.01 * (m / (1 - 0.9**step)) / (np.sqrt(s / (1 - 0.999**step)) + 1e-8)
    b = w[-1]
    w = w[:-1]
    per_token = (((vectors - mu) / sd) @ w).astype(np.float32)
    return TokenScores(tuple(labels), vocab, array("f", per_token.ravel().tobytes()),
                       tuple(float(v) for v in b))


# --- selection ------------------------------------------------------------------------

def candidates(grid: dict[str, tuple[Any, ...]] | None = None) -> list[dict[str, Any]]:
    """Every combination of the grid's values."""
    g = GRID if grid is None else grid
    keys = sorted(g)
    return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(
        *(g[k] for k in keys))]


@dataclass
class Workbench:
    """What selection reuses across its hundreds of fits: features and sentence vectors
    by text, and the token table (None: the word-vector voice is left out)."""

    features: dict[str, dict[str, float]]
    vocab: dict[str, int] | None = None
    vectors: Any = None
    sentences: dict[str, Any] | None = None

    @classmethod
    def prepare(cls, examples: Sequence[Example], with_wordvec: bool = True) -> Workbench:
        feats = {e.text: extract(e.text) for e in examples}
        if not with_wordvec:
            return cls(feats)
        vocab, vectors = token_vectors()
        texts = sorted(feats)
        x = sentence_vectors(texts, vocab, vectors)
        return cls(feats, vocab, vectors, dict(zip(texts, x, strict=True)))


def _probs(scores: list[float]) -> list[float]:
    top = max(scores)
    exps = [math.exp(v - top) for v in scores]
    total = sum(exps)
    return [v / total for v in exps]


def _linear_scores(model: dict[str, Any], feats: dict[str, float]) -> list[float]:
    weights = model["weights"]
    total = [0.0] * len(model["labels"])
    for name, value in feats.items():
        row = weights.get(name)
        if row is not None:
            for i, wt in enumerate(row):
                total[i] += value * wt
    return total


def fused_predictions(train: Sequence[Example], test: Sequence[Example],
                      params_list: Sequence[dict[str, Any]], bench: Workbench,
                      ) -> list[list[str]]:
    """Predicted labels on ``test`` for each candidate, fitting each distinct sparse model
    and word-vector model once."""
    import numpy as np

    sparse: dict[str, Any] = {}
    wordvec: dict[float, Any] = {}
    out = []
    for params in params_list:
        sp = {k: v for k, v in params.items() if k in SPARSE_KEYS}
        key = json.dumps(sp, sort_keys=True)
        if key not in sparse:
            model = fit(train, features=bench.features, **sp)
            sparse[key] = (model["labels"], [_probs(_linear_scores(model, bench.features[e.text]))
                                              for e in test])
        labels, lin = sparse[key]
        alpha = float(params.get("alpha", 0.0))
        if alpha == 0.0 or bench.sentences is None:
            out.append([labels[max(range(len(p)), key=p.__getitem__)] for p in lin])
            continue
        wv_l2 = float(params["wv_l2"])
        if wv_l2 not in wordvec:
            x = np.array([bench.sentences[e.text] for e in train])
            table = fit_wordvec(x, train, labels, bench.vectors, bench.vocab or {}, wv_l2=wv_l2)
            wordvec[wv_l2] = [table.class_scores(e.text) for e in test]
        preds = []
        for p_lin, s_wv in zip(lin, wordvec[wv_l2], strict=True):
            p = p_lin if s_wv is None else [
                (1 - alpha) * a + alpha * b for a, b in zip(p_lin, _probs(s_wv), strict=True)]
            preds.append(labels[max(range(len(p)), key=p.__getitem__)])
        out.append(preds)
    return out


def _dedupe(params_list: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Candidates with alpha 0 differ only in unused word-vector settings: keep one."""
    seen = set()
    out = []
    for params in params_list:
        key = dict(params)
        if not key.get("alpha"):
            key.pop("wv_l2", None)
        k = json.dumps(key, sort_keys=True)
        if k not in seen:
            seen.add(k)
            out.append(params)
    return out


def select(examples: Sequence[Example], bench: Workbench,
           grid: dict[str, tuple[Any, ...]] | None = None,
           ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The candidate with the best mean leave-one-project-out macro accuracy over the
    projects in ``examples`` (ties: the earlier, simpler candidate); returns it and every
    candidate's scores."""
    params_list = _dedupe(candidates(grid))
    if bench.sentences is None:
        params_list = [p for p in params_list if not p.get("alpha")]
    per: list[dict[str, float]] = [{} for _ in params_list]
    for held in sorted({e.source for e in examples}):
        train = [e for e in examples if e.source != held]
        test = [e for e in examples if e.source == held]
        for i, preds in enumerate(fused_predictions(train, test, params_list, bench)):
            per[i][held] = macro_accuracy([(e.label, p) for e, p in
                                           zip(test, preds, strict=True)])
    tried: list[dict[str, Any]] = [
        {"params": p, "per_project": {k: round(v, 4) for k, v in s.items()},
         "mean": round(sum(s.values()) / len(s), 4)}
        for p, s in zip(params_list, per, strict=True)]
    best = max(tried, key=lambda t: t["mean"])
    return dict(best["params"]), tried


def fit_all(examples: Sequence[Example], params: dict[str, Any],
            bench: Workbench) -> dict[str, Any]:
    """The model as shipped in ``model.json``: sparse weights, and the word-vector table
    with its fusion weight when ``alpha`` > 0."""
    import numpy as np

    model = fit(examples, features=bench.features,
                **{k: v for k, v in params.items() if k in SPARSE_KEYS})
    alpha = float(params.get("alpha", 0.0))
    if alpha > 0 and bench.sentences is not None:
        x = np.array([bench.sentences[e.text] for e in examples])
        table = fit_wordvec(x, examples, model["labels"], bench.vectors, bench.vocab or {},
                            wv_l2=float(params["wv_l2"]))
        model["wordvec"] = table.to_json()
        model["alpha"] = alpha
    return model
