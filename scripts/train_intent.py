"""Refit the shipped intent weights from labelled requests.

Usage: python scripts/train_intent.py [DATA.jsonl] [OUT.json]
Defaults: data/intent-dev.jsonl and dmc/intent/model.json. Needs numpy.
The hyper-parameters are the ones chosen by leave-one-project-out runs (see bench/).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from dmc.intent.train import HYPERPARAMS, fit, load_examples

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    default = ROOT / "data" / "intent-dev.jsonl"
    data = Path(sys.argv[1]) if len(sys.argv) > 1 else default
    out = Path(sys.argv[2]) if len(sys.argv) > 2 else ROOT / "dmc/intent/model.json"
    model = fit(load_examples(data), **HYPERPARAMS)
    model["trained_on"] = data.name
    model["hyperparams"] = HYPERPARAMS
    text = json.dumps(model, separators=(",", ":"), sort_keys=True)
    out.write_text(text + "\n", encoding="utf-8")
    print(f"wrote {out} ({len(model['weights'])} features)")


if __name__ == "__main__":
    main()
