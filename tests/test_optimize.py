"""dmc optimize: budget packing, redaction, the payload schema, token counting."""

from __future__ import annotations

import glob
import sys
from pathlib import Path

import orjson
import pytest

from dmc.models import model_dir
from dmc.optimize import Options, optimize
from dmc.optimize.pack import MARKER_OPEN, Item, compress, elision_marker, merge_overlaps, pack
from dmc.optimize.secrets import redact
from dmc.payload import errors
from dmc.tokens import byte_bound as estimate
from dmc.tokens import counter

SITE = Path(sys.prefix) / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / \
    "site-packages"


def real_chunks(n: int) -> list[dict]:
    """Chunks of real code (httpx as installed), scored so the first is the best."""
    chunks = []
    for path in sorted(glob.glob(str(SITE / "httpx" / "*.py"))):
        lines = Path(path).read_text().split("\n")
        for start in range(0, len(lines), 40):
            body = "\n".join(lines[start:start + 40])
            if body.strip():
                chunks.append({"path": f"httpx/{Path(path).name}", "start_line": start + 1,
                               "end_line": start + len(lines[start:start + 40]),
                               "language": "python", "text": body,
                               "score": 1.0 - len(chunks) / 1000, "symbol": ""})
            if len(chunks) == n:
                return chunks
    return chunks


def doc_with(chunks: list[dict], text: str = "make the client retry on timeouts") -> dict:
    return {"dmc": 1, "input": {"text": text},
            "intent": {"task_type": "feature_implementation", "complexity": "medium",
                       "domain": "web_backend"},
            "extraction": {"languages": ["python"], "frameworks": [], "libraries": ["httpx"],
                           "requirements": ["error_handling"], "constraints": [],
                           "mentioned_files": [], "mentioned_symbols": []},
            "context": {"chunks": chunks}}


@pytest.mark.parametrize("budget", [300, 1000, 3000, 8000])
def test_budget_is_never_exceeded_and_the_best_chunk_is_kept(budget: int) -> None:
    chunks = real_chunks(50)
    out, _ = optimize(doc_with(chunks), Options(max_context_tokens=budget), estimate)
    payload = out["payload"]
    assert payload["metrics"]["context_tokens"] <= budget
    code = "\n".join(payload["context"]["existing_code"].values())
    best = chunks[0]["text"].split("\n")[0]
    assert best in code
    assert errors(payload) == []


def test_no_line_is_sent_twice() -> None:
    a = Item("f.py", 1, 10, "\n".join(f"line {i}" for i in range(1, 11)), 0.9)
    b = Item("f.py", 5, 15, "\n".join(f"line {i}" for i in range(5, 16)), 0.5)
    [merged] = merge_overlaps([a, b])
    lines = merged.text.split("\n")
    assert lines == [f"line {i}" for i in range(1, 16)]
    assert merged.score == 0.9


def test_compression_keeps_signatures_and_relevant_lines() -> None:
    text = ("def fetch(url):\n" + "    x = 1\n" * 20 + "    retry_count = 3\n" + "    y = 2\n" * 20
            + "class Client:\n    pass\n")
    small = compress(text, {"retry_count"}, "python")
    assert "def fetch(url):" in small and "retry_count = 3" in small and "class Client:" in small
    assert "lines elided" in small and len(small) < len(text) / 3
    # elisions are marker lines, not comments a model could take for code
    assert f"    {elision_marker(20)}" in small and "# ..." not in small


def test_tight_budget_compresses_then_drops() -> None:
    items = [Item(f"f{i}.py", 1, 60, "def f():\n" + "    pass\n" * 60, 1.0 - i / 10)
             for i in range(5)]
    packed = pack(items, 80, estimate, set())
    assert packed.tokens <= 80
    assert packed.items[0][0].path == "f0.py"
    assert packed.dropped


def test_planted_secrets_are_redacted_and_reported() -> None:
    planted = {
        "aws": "AKIAIOSFODNN7EXAMPLQ",
        "github": "ghp_" + "a1B2c3D4" * 5,
        "password": "S3cure-Passw0rd!",
        "key_body": "MIIEowIBAAKCAQEA7bq8",
    }
    code = (f'AWS_KEY = "{planted["aws"]}"\nGH = "{planted["github"]}"\n'
            f'db_password = "{planted["password"]}"\n'
            f"-----BEGIN RSA PRIVATE KEY-----\n{planted['key_body']}\n"
            "-----END RSA PRIVATE KEY-----\n")
    chunks = [{"path": "settings.py", "start_line": 1, "end_line": 7, "text": code,
               "score": 0.9, "language": "python"},
              {"path": ".env", "start_line": 1, "end_line": 2, "score": 0.5,
               "text": "STRIPE_KEY=sk_live_abcdefghijklmnop1234\nDEBUG=1\n", "language": ""}]
    out, notes = optimize(doc_with(chunks), Options(), estimate)
    blob = orjson.dumps(out["payload"]).decode()
    for secret in [*planted.values(), "sk_live_abcdefghijklmnop1234"]:
        assert secret not in blob
    kinds = {r["kind"] for r in out["payload"]["metrics"]["redactions"]}
    assert {"aws_access_key", "github_token", "assigned_secret", "private_key",
            "env_value"} <= kinds
    assert any("redacted" in n for n in notes)


def test_placeholders_are_not_redacted() -> None:
    text = 'api_key = "your-api-key-here"\ntoken = os.environ["TOKEN"]\nmax_tokens = 2048\n'
    assert redact("a.py", text) == (text, [])


def test_payload_is_small_and_schema_valid(dmc, make_repo) -> None:
    repo = make_repo({"app/models.py": "class User:\n    name: str\n",
                      "requirements.txt": "fastapi\n"})
    res = dmc("optimize", "--repo", str(repo), "add an email field to app/models.py")
    assert res.code == 0, res.stderr
    payload = res.doc["payload"]
    assert errors(payload) == []
    assert "app/models.py" in payload["context"]["existing_code"]
    header = payload["context"]["existing_code"]["app/models.py"].split("\n")[0]
    assert header.startswith(MARKER_OPEN) and "of app/models.py" in header
    assert payload["metrics"]["bytes"] < payload["metrics"]["network_budget_bytes"] / 100
    assert payload["task"]["target_files"] == ["app/models.py"]
    assert payload["quality_criteria"]["min_test_coverage"] == 80.0


def test_schema_rejects_wrong_payloads() -> None:
    assert errors({"request_id": "x"})
    good = {"request_id": "r1", "timestamp": "t", "task": {"type": "bug_fix",
                                                          "description": "fix"},
            "context": {}, "requirements": {}, "style": {}, "quality_criteria": {}}
    assert errors(good) == []
    assert errors({**good, "extra": 1})
    assert errors({**good, "request_id": "../etc/passwd"})


def test_byte_bound_holds_against_the_real_tokenizer() -> None:
    model = model_dir() / "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"
    count, name = counter(model)
    assert name.startswith("tokenizer:"), "the packaged model is assembled by make install"
    samples = [c["text"] for c in real_chunks(400)]
    samples += ["0,1,2,3,4,5,6,7,8,9," * 50, "ÿ€😀" * 100, "\x00\x01" * 100, "a" * 1000]
    for text in samples:
        assert estimate(text) >= count(text)
    assert len(samples) >= 100


def test_optimize_uses_the_model_tokenizer_when_it_can(dmc) -> None:
    res = dmc("optimize", "fix the retry loop")
    assert res.doc["payload"]["metrics"]["token_counter"].startswith("tokenizer:qwen2.5")
    light = dmc("optimize", "--set", "models.generation=/nonexistent/model.gguf",
                "fix the retry loop")
    assert light.doc["payload"]["metrics"]["token_counter"] == "byte-bound"
