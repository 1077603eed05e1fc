"""Turn a request into the sparse features the intent model scores.

Requests look like commit subjects or chat messages: short, terse, full of identifiers. The
features are chosen to carry over between projects: lexicon categories (see
:mod:`dmc.intent.lexicon`), the opening verb, and word stems; identifiers in backticks or in
code shapes collapse to one placeholder so one project's API names do not become cues.
"""

from __future__ import annotations

import re
from functools import lru_cache

from dmc.intent.lexicon import TASK_CUES

_CODE_SPAN = re.compile(r"`[^`]*`")
_TOKEN = re.compile(r"[a-z0-9][a-z0-9+#._/'-]*[a-z0-9+#]|[a-z0-9]|\?")
_MULTIPLIER = re.compile(r"\b\d+(?:\.\d+)?\s*x\b|\b\d+(?:\.\d+)?\s*%|\bx\d+\b")
_IDENT_SHAPES = (
    re.compile(r"^[a-z]+[a-z0-9]*(?:_[a-z0-9]+)+$"),  # snake_case
    re.compile(r"^[a-z]+(?:\.[a-z_]+)+\(?\)?$"),  # dotted.path
)
_SHAPES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("version", re.compile(r"\bv?\d+\.\d+(?:\.\d+)?\b|\bv\d+\b|\bpython ?3\.?\d*\b")),
    ("condition", re.compile(r"\b(when|if|unless|while|after|before|on)\b .{3,}")),
    ("instead", re.compile(r"\binstead of\b|\brather than\b|\bin favou?r of\b")),
)
_FILE_EXT = re.compile(r"\.(md|rst|txt|py|js|ts|tsx|jsx|rs|go|yml|yaml|toml|json|cfg|ini|lock)$")
_EXT_CUE = {
    "md": "documentation", "rst": "documentation", "txt": "documentation",
    "yml": "configuration", "yaml": "configuration", "toml": "configuration",
    "cfg": "configuration", "ini": "configuration", "lock": "configuration",
}


@lru_cache(maxsize=8192)
def stem(word: str) -> str:
    """A tiny suffix stripper: enough to make "tests"/"testing"/"tested" one feature.

    A full Porter stemmer would cost start-up time for no gain on two-to-ten word requests.
    """
    w = word.strip("'").replace("'", "")
    if len(w) <= 3 or not w.isalpha():
        return w
    for suffix, repl, min_len in (
        ("ies", "y", 5), ("sses", "ss", 5), ("ing", "", 6), ("ed", "", 5), ("es", "", 6),
        ("s", "", 4),
    ):
        if w.endswith(suffix) and len(w) >= min_len and not w.endswith("ss"):
            w = w[: len(w) - len(suffix)] + repl
            break
    if len(w) > 3 and w[-1] == w[-2] and w[-1] not in "aeiouls":
        w = w[:-1]  # running -> runn -> run
    return w


def _build_stemmed_lexicon() -> dict[str, frozenset[str]]:
    out: dict[str, set[str]] = {}
    for cat, words in TASK_CUES.items():
        for word in words:
            out.setdefault(stem(word.lower()), set()).add(cat)
    return {k: frozenset(v) for k, v in out.items()}


STEMMED_CUES: dict[str, frozenset[str]] = _build_stemmed_lexicon()


def tokenize(text: str) -> tuple[list[str], int]:
    """Lower-case word tokens with code spans and identifiers collapsed.

    Returns the tokens and how many code-like items (backtick spans, snake_case,
    dotted paths) the text had.
    """
    lowered = text.lower()
    code_spans = len(_CODE_SPAN.findall(lowered))
    lowered = _CODE_SPAN.sub(" <code> ", lowered)
    tokens: list[str] = []
    idents = 0
    for raw in re.findall(r"<code>|" + _TOKEN.pattern, lowered):
        if raw == "<code>":
            tokens.append(raw)
            continue
        ext = _FILE_EXT.search(raw)
        if ext and "/" not in raw and raw.count(".") == 1 and raw not in STEMMED_CUES:
            tokens.append(f"<file:{ext.group(1)}>")
            continue
        if "/" in raw and not raw.startswith("/") and len(raw) > 3:
            tokens.append("<path>")
            continue
        if any(p.match(raw) for p in _IDENT_SHAPES) and raw not in STEMMED_CUES:
            tokens.append("<ident>")
            idents += 1
            continue
        # "speed-up" stays whole when the lexicon knows it, else splits into its parts
        if "-" in raw and raw not in STEMMED_CUES:
            tokens.extend(p for p in raw.split("-") if p)
        else:
            tokens.append(raw.rstrip("."))
    return tokens, code_spans + idents


def extract(text: str) -> dict[str, float]:
    """Sparse feature vector (name → value) for one request."""
    tokens, code_items = tokenize(text)
    stems = [stem(t) for t in tokens if t]
    feats: dict[str, float] = {"bias": 1.0}
    for s in stems:
        feats["w:" + s] = 1.0
    for a, b in zip(stems, stems[1:], strict=False):
        feats[f"b:{a}_{b}"] = 1.0
    if stems:
        feats["first:" + stems[0]] = 1.0
        for cat in STEMMED_CUES.get(stems[0], ()):
            feats["firstlex:" + cat] = 1.0
        if len(stems) > 1:
            feats[f"first2:{stems[0]}_{stems[1]}"] = 1.0
            for cat in STEMMED_CUES.get(stems[1], ()):
                feats["secondlex:" + cat] = 1.0
    hits: dict[str, int] = {}
    for s in stems:
        for cat in STEMMED_CUES.get(s, ()):
            hits[cat] = hits.get(cat, 0) + 1
        if s.startswith("<file:"):
            ext_cat = _EXT_CUE.get(s[6:-1])
            if ext_cat:
                hits[ext_cat] = hits.get(ext_cat, 0) + 1
    for cat, n in hits.items():
        feats["lex:" + cat] = 1.0
        if n > 1:
            feats["lex2:" + cat] = 1.0
    if code_items:
        feats["shape:code"] = 1.0
    lowered = text.lower()
    if _MULTIPLIER.search(lowered):
        feats["shape:multiplier"] = 1.0
    for name, pattern in _SHAPES:
        if pattern.search(lowered):
            feats["shape:" + name] = 1.0
    n = len(stems)
    feats["shape:len" + ("1-3" if n <= 3 else "4-7" if n <= 7 else "8+")] = 1.0
    return feats
