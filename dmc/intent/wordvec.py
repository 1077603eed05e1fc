"""The second voice of the intent classifier: what the request's words mean, not which words.

A linear model over a request's own words only knows words the training projects used; an
unseen project says "speed up" where the training data said "faster", names its own
tools, and so on. The sentence-embedding model dmc already ships for retrieval
(all-MiniLM-L6-v2) knows that such words are related, but loading it costs about a second,
four times the budget of the cold ``dmc intent``. So its knowledge is distilled at training
time into a *static* table: every WordPiece token of its vocabulary is embedded on its own,
a linear classifier is fitted on the mean of a request's token vectors, and because the
classifier is linear, the mean can be taken after it: each token's vector is replaced by
its seven class scores. At run time a request costs a WordPiece split and a few dict look-ups,
with no numpy and no model (the table is part of ``model.json``).

:func:`wordpieces` is a small re-implementation of BERT's uncased WordPiece split; training
and run time both use it, so the two agree whatever the ``tokenizers`` library does.
"""

from __future__ import annotations

import base64
import unicodedata
from array import array
from dataclasses import dataclass
from typing import Any

_MAX_WORD = 100


def _is_punct(ch: str) -> bool:
    cp = ord(ch)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(ch).startswith("P")


def basic_words(text: str) -> list[str]:
    """BERT's basic tokenizer, uncased: accents stripped, punctuation split off."""
    text = unicodedata.normalize("NFD", text.lower())
    text = "".join(ch for ch in text if unicodedata.category(ch) != "Mn")
    out: list[str] = []
    for word in text.split():
        current = ""
        for ch in word:
            if _is_punct(ch):
                if current:
                    out.append(current)
                    current = ""
                out.append(ch)
            else:
                current += ch
        if current:
            out.append(current)
    return out


def wordpieces(text: str, vocab: dict[str, int]) -> list[int]:
    """Vocabulary ids of the text's WordPiece tokens (greedy longest match first); a word
    that cannot be split is left out rather than mapped to [UNK]."""
    ids: list[int] = []
    for word in basic_words(text):
        if len(word) > _MAX_WORD:
            continue
        start = 0
        pieces: list[int] = []
        while start < len(word):
            end = len(word)
            found = None
            while start < end:
                piece = word[start:end] if start == 0 else "##" + word[start:end]
                found = vocab.get(piece)
                if found is not None:
                    break
                end -= 1
            if found is None:
                pieces = []
                break
            pieces.append(found)
            start = end
        ids.extend(pieces)
    return ids


@dataclass(frozen=True)
class TokenScores:
    """Per-token class scores (row-major, ``len(labels)`` a token) and a bias per class."""

    labels: tuple[str, ...]
    vocab: dict[str, int]
    scores: array
    bias: tuple[float, ...]

    def class_scores(self, text: str) -> list[float] | None:
        """Mean token score plus bias; None when no token of the text is known."""
        ids = wordpieces(text, self.vocab)
        if not ids:
            return None
        width = len(self.labels)
        total = [0.0] * width
        for i in ids:
            row = self.scores[i * width:(i + 1) * width]
            for j in range(width):
                total[j] += row[j]
        return [t / len(ids) + b for t, b in zip(total, self.bias, strict=True)]

    def to_json(self) -> dict[str, Any]:
        tokens = sorted(self.vocab, key=self.vocab.__getitem__)
        return {"labels": list(self.labels), "vocab": "\n".join(tokens),
                "scores": base64.b64encode(self.scores.tobytes()).decode("ascii"),
                "bias": [round(b, 5) for b in self.bias]}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TokenScores:
        tokens = data["vocab"].split("\n")
        scores = array("f")
        scores.frombytes(base64.b64decode(data["scores"]))
        return cls(tuple(data["labels"]), {t: i for i, t in enumerate(tokens)}, scores,
                   tuple(data["bias"]))
