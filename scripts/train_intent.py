"""Choose the intent model's settings and refit the shipped weights from labelled requests.

Usage: python scripts/train_intent.py [DATA.jsonl] [OUT.json]
Defaults: data/intent-dev.jsonl and dmc/intent/model.json. Needs numpy and the rag extra
(the word-vector table is distilled from the packaged MiniLM; about a minute, cached).

The settings are chosen by leave-one-project-out over every project in the data
(:func:`dmc.intent.train.select`, the grid in :data:`dmc.intent.train.GRID`); the figures
that say how well such a choice carries to an unseen project come from the nested version
of the same loop in bench/bench_intent.py, never from this selection's own scores.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from dmc.intent.train import Workbench, fit_all, load_examples, select

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    default = ROOT / "data" / "intent-dev.jsonl"
    data = Path(sys.argv[1]) if len(sys.argv) > 1 else default
    out = Path(sys.argv[2]) if len(sys.argv) > 2 else ROOT / "dmc/intent/model.json"
    examples = load_examples(data)
    bench = Workbench.prepare(examples)
    params, tried = select(examples, bench)
    best = max(t["mean"] for t in tried)
    print(f"chose {params} (leave-one-project-out macro {best}, {len(tried)} candidates)")
    model = fit_all(examples, params, bench)
    model["trained_on"] = data.name
    model["hyperparams"] = params
    text = json.dumps(model, separators=(",", ":"), sort_keys=True)
    out.write_text(text + "\n", encoding="utf-8")
    print(f"wrote {out} ({len(model['weights'])} features"
          f"{', word-vector table' if 'wordvec' in model else ''})")


if __name__ == "__main__":
    main()
