"""Benchmark ``dmc intent``: start-up wall time, batch throughput, accuracy on real data.

Accuracy is measured leave-one-project-out on shared/data/intent-dev.jsonl: the model is
fitted on two source projects (same features, same hyper-parameters as the shipped model)
and scored on the third, for each of the three. Per-class accuracy (recall), macro accuracy
(mean over the classes the held-out project has) and plain accuracy are reported, next to a
keyword baseline (the class with the most lexicon hits) on the same rows.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import orjson  # noqa: E402

from bench.common import DMC, SHARED_DATA, time_command, write  # noqa: E402
from dmc.intent.classifier import LinearModel  # noqa: E402
from dmc.intent.features import STEMMED_CUES, extract, stem, tokenize  # noqa: E402
from dmc.intent.train import COMMIT_LABELS, HYPERPARAMS, Example, fit, load_examples  # noqa: E402


def _scores(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    total = Counter(gold for gold, _ in pairs)
    right = Counter(gold for gold, pred in pairs if gold == pred)
    per_class = {lab: round(right[lab] / total[lab], 3) for lab in COMMIT_LABELS if total[lab]}
    return {"n": len(pairs), "per_class": per_class, "support": dict(total),
            "macro_accuracy": round(sum(per_class.values()) / len(per_class), 3),
            "accuracy": round(sum(right.values()) / len(pairs), 3)}


def keyword_baseline(text: str) -> str:
    """The class whose lexicon words occur most often; feature on no hit."""
    tokens, _ = tokenize(text)
    hits: Counter[str] = Counter()
    for tok in tokens:
        for cat in STEMMED_CUES.get(stem(tok), ()):
            if cat in COMMIT_LABELS:
                hits[cat] += 1
    return hits.most_common(1)[0][0] if hits else "feature_implementation"


def leave_one_project_out(examples: list[Example]) -> dict[str, Any]:
    sources = sorted({e.source for e in examples})
    report: dict[str, Any] = {}
    for held in sources:
        train = [e for e in examples if e.source != held]
        test = [e for e in examples if e.source == held]
        fitted = fit(train, **HYPERPARAMS)
        model = LinearModel(tuple(fitted["labels"]), fitted["weights"])
        preds = []
        for e in test:
            s = model.scores(extract(e.text))
            preds.append(model.labels[max(range(len(s)), key=s.__getitem__)])
        report[held] = {
            "trained_on": [s for s in sources if s != held],
            "model": _scores([(e.label, p) for e, p in zip(test, preds, strict=True)]),
            "keyword_baseline": _scores([(e.label, keyword_baseline(e.text)) for e in test]),
        }
    macro = [r["model"]["macro_accuracy"] for r in report.values()]
    base = [r["keyword_baseline"]["macro_accuracy"] for r in report.values()]
    return {"per_held_out_project": report,
            "mean_macro_accuracy": round(sum(macro) / len(macro), 3),
            "mean_keyword_baseline_macro": round(sum(base) / len(base), 3)}


def main() -> dict[str, Any]:
    data = SHARED_DATA / "intent-dev.jsonl"
    examples = load_examples(data)
    single = time_command([DMC, "intent", "add OAuth2 login keeping JWT working"], runs=15)
    texts = [e.text for e in examples]
    # documents, not text lines: a text line starting with "[" would be read as JSON
    batch_in = b"".join(orjson.dumps({"input": {"text": t}}) + b"\n" for t in texts)
    start = time.perf_counter()
    proc = subprocess.run([DMC, "intent", "--batch"], input=batch_in, capture_output=True,
                          check=True)
    elapsed = time.perf_counter() - start
    lines = proc.stdout.count(b"\n")
    result = {
        "commands": {
            "single": f'{DMC} intent "add OAuth2 login keeping JWT working" (15 runs)',
            "batch": f"{DMC} intent --batch < {len(texts)} NDJSON requests from {data.name}",
            "accuracy": "leave-one-project-out on " + str(data.name),
        },
        "single_request_wall": {**single, "goal_s": 0.25},
        "batch": {"requests": len(texts), "lines_out": lines, "seconds": round(elapsed, 3),
                  "requests_per_s": round(len(texts) / elapsed, 1)},
        "accuracy": leave_one_project_out(examples),
        "hyperparams": HYPERPARAMS,
    }
    path = write("intent", result)
    acc = result["accuracy"]
    print(f"intent: single {single['median_s']:.3f}s median; batch "
          f"{result['batch']['requests_per_s']}/s; LOPO macro {acc['mean_macro_accuracy']} "
          f"(keyword baseline {acc['mean_keyword_baseline_macro']}) -> {path}")
    return result


if __name__ == "__main__":
    main()
