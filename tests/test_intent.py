"""dmc intent: the embedded classifier and the LLM paths."""

from __future__ import annotations

import pytest

from dmc.intent import INTENT_SCHEMA, classify
from dmc.intent.classifier import COMPLEXITIES, DOMAINS, TASK_TYPES, load_model
from tests.support.servers import OllamaDouble, free_port

# Terse requests as people write them (commit subjects, chat): each pair states what the
# request plainly asks for, independent of the training data.
TERSE = [
    ("handle empty config file", "bug_fix"),
    ("crash when the cache dir is missing", "bug_fix"),
    ("don't panic on empty input", "bug_fix"),
    ("speed up the tokenizer", "optimization"),
    ("reduce memory use of the csv reader", "optimization"),
    ("add OAuth2 login keeping JWT working", "feature_implementation"),
    ("support reading parquet from S3", "feature_implementation"),
    ("fix typo in README", "documentation"),
    ("document the retry options", "documentation"),
    ("add tests for the date parser", "testing"),
    ("bump ruff in the CI workflow", "configuration"),
    ("pin numpy below 2 in pyproject", "configuration"),
    ("rename UserService to AccountService", "refactoring"),
    ("move helpers into a utils module", "refactoring"),
    ("explain how the retry loop works", "explanation"),
    ("why does the cache never expire?", "explanation"),
    ("review this diff for security problems", "code_review"),
    ("write a python function slugify(text) in slug.py", "feature_implementation"),
    ("write tests for the parser", "testing"),
]


@pytest.mark.parametrize("text, expected", TERSE)
def test_terse_requests(text: str, expected: str) -> None:
    assert classify(text)["task_type"] == expected


def test_output_shape_and_ranges() -> None:
    intent = classify("add JWT authentication to the Express API")
    assert intent["task_type"] in TASK_TYPES
    assert intent["complexity"] in COMPLEXITIES
    assert intent["domain"] == "web_backend"
    assert 0 <= intent["confidence"] <= 1
    assert intent["signals"] and all(isinstance(s, str) for s in intent["signals"])
    assert abs(sum(load_model().labels.__len__() for _ in [0]) - 7) == 0


def test_complexity_follows_scope() -> None:
    assert classify("fix typo in README")["complexity"] == "low"
    big = classify("migrate the whole authentication system to OAuth2 across all services, "
                   "keeping backward compatibility with existing JWT sessions")
    assert big["complexity"] == "high"


def test_how_do_i_add_is_a_change_not_an_explanation() -> None:
    assert classify("how do I add a --verbose flag to the CLI")["task_type"] != "explanation"


def test_low_confidence_is_flagged(dmc) -> None:
    res = dmc("intent", "--min-confidence", "0.99", "update stuff")
    assert res.code == 0
    assert res.doc["intent"]["low_confidence"] is True
    assert "low confidence" in res.stderr


def test_model_weights_only_use_known_labels() -> None:
    model = load_model()
    assert set(model.labels) <= set(TASK_TYPES)
    assert all(len(row) == len(model.labels) for row in model.weights.values())


def test_unreachable_llm_falls_back_with_warning(dmc) -> None:
    port = free_port()  # nothing listens here
    res = dmc("intent", "--model", f"http://127.0.0.1:{port}/v1#m", "fix the login crash")
    assert res.code == 0
    intent = res.doc["intent"]
    assert intent["method"] == "local-linear-v1"
    assert "unreachable" in intent["fallback"]["reason"]
    assert "warning" in res.stderr and "embedded classifier" in res.stderr


def test_bad_model_spec_is_usage_error(dmc) -> None:
    res = dmc("intent", "--model", "gpt-magic", "fix it")
    assert res.code == 2 and "unknown model" in res.doc["error"]["message"]


class TestOllamaWireProtocol:
    """Against a TEST DOUBLE of Ollama's HTTP API (no Ollama server can run here)."""

    def test_structured_answer_is_used_and_num_ctx_is_set(self, dmc) -> None:
        double = OllamaDouble({"task_type": "bug_fix", "complexity": "low",
                               "domain": "cli", "confidence": 0.9})
        try:
            res = dmc("intent", "--model", "ollama:qwen2.5-coder", "flags are ignored",
                      env={"DMC_MODELS__OLLAMA_URL": double.url})
        finally:
            double.stop()
        assert res.code == 0, res.stderr
        intent = res.doc["intent"]
        assert intent["task_type"] == "bug_fix" and intent["domain"] == "cli"
        assert intent["method"].startswith("llm ollama:qwen2.5-coder")
        sent = double.requests[0]
        assert sent["format"] == INTENT_SCHEMA
        assert sent["options"]["num_ctx"] >= 2048 and sent["stream"] is False

    def test_model_not_pulled_says_how_to_fix(self, dmc) -> None:
        double = OllamaDouble({}, models=())
        try:
            res = dmc("intent", "--model", "ollama:missing-model", "add a flag",
                      env={"DMC_MODELS__OLLAMA_URL": double.url})
        finally:
            double.stop()
        assert res.code == 0
        assert "ollama pull missing-model" in res.stderr

    def test_answer_outside_schema_falls_back(self, dmc) -> None:
        double = OllamaDouble({"task_type": "dancing", "complexity": "low",
                               "domain": "cli", "confidence": 0.9})
        try:
            res = dmc("intent", "--model", "ollama:qwen2.5-coder", "add a flag",
                      env={"DMC_MODELS__OLLAMA_URL": double.url})
        finally:
            double.stop()
        assert res.doc["intent"]["method"] == "local-linear-v1"
        assert "outside the schema" in res.doc["intent"]["fallback"]["reason"]

    def test_slow_server_times_out_and_falls_back(self, dmc) -> None:
        double = OllamaDouble({"task_type": "bug_fix", "complexity": "low",
                               "domain": "cli", "confidence": 0.9}, delay=3)
        try:
            res = dmc("intent", "--model", "ollama:qwen2.5-coder", "add a flag",
                      env={"DMC_MODELS__OLLAMA_URL": double.url, "DMC_MODELS__TIMEOUT": "0.5"})
        finally:
            double.stop()
        assert res.code == 0
        assert "did not answer within 0.5 s" in res.doc["intent"]["fallback"]["reason"]


@pytest.mark.slow
def test_openai_compatible_path_with_real_llama_cpp_server(dmc, smol_server) -> None:
    """A real llama.cpp server and a real small model answer under the JSON schema."""
    res = dmc("intent", "--model", f"{smol_server.url}#smollm2",
              "add OAuth2 login keeping JWT working")
    assert res.code == 0, res.stderr
    intent = res.doc["intent"]
    assert intent["method"].startswith("llm openai:smollm2"), intent.get("fallback")
    assert intent["task_type"] in TASK_TYPES and intent["domain"] in DOMAINS
    assert intent["complexity"] in COMPLEXITIES and 0 <= intent["confidence"] <= 1
    assert intent["local"]["task_type"] == "feature_implementation"
