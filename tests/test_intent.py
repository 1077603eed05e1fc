"""dmc intent: the embedded classifier and the LLM paths."""

from __future__ import annotations

import pytest

from dmc.intent import INTENT_SCHEMA, classify
from dmc.intent.classifier import COMPLEXITIES, DOMAINS, METHOD, TASK_TYPES, load_model
from dmc.intent.train import Example, Workbench, macro_accuracy, select
from dmc.intent.wordvec import TokenScores, basic_words, wordpieces
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


WORDPIECE_SAMPLES = [
    "add OAuth2 login keeping JWT working",
    "Fix `DataFrame.rechunk()` crash on empty input (#1234)",
    "naïve café: don't re-encode UTF-8 twice!",
    "bump @commitlint/cli to v19.0.3 in package.json",
    "speed-up the tokenizer's hot loop by 2x",
]


@pytest.mark.parametrize("text", WORDPIECE_SAMPLES)
def test_wordpieces_match_the_reference_tokenizer(text: str) -> None:
    """The pure-Python WordPiece split (run time, no `tokenizers`) gives the same ids as
    the library the MiniLM model was trained with."""
    tokenizers = pytest.importorskip("tokenizers")
    embed = pytest.importorskip("dmc.rag.embed")
    try:
        folder = embed.package_dir()
    except Exception:
        pytest.skip("the MiniLM package is not installed")
    ref = tokenizers.Tokenizer.from_file(str(folder / "tokenizer.json"))
    ref.no_padding()
    vocab = {t: i for i, t in enumerate(
        (folder / "vocab.txt").read_text(encoding="utf-8").splitlines())}
    assert wordpieces(text, vocab) == ref.encode(text, add_special_tokens=False).ids


def test_basic_words_split_punctuation_and_strip_accents() -> None:
    assert basic_words("Don't café-crash!") == ["don", "'", "t", "cafe", "-", "crash", "!"]


def test_token_scores_average_rows_and_survive_json() -> None:
    from array import array

    table = TokenScores(("a", "b"), {"fix": 0, "##es": 1, "crash": 2},
                        array("f", [1.0, 0.0, 0.0, 2.0, 3.0, 1.0]), (0.5, -0.5))
    again = TokenScores.from_json(table.to_json())
    assert again.vocab == table.vocab and list(again.scores) == list(table.scores)
    # "fixes crash" -> fix, ##es, crash: mean of the three rows, plus the bias
    assert again.class_scores("fixes crash") == pytest.approx([4 / 3 + 0.5, 1.0 - 0.5])
    assert again.class_scores("zzz") is None  # no known piece: no opinion


def test_shipped_model_fuses_a_word_vector_table_that_matches_its_labels() -> None:
    model = load_model()
    assert model.wordvec is not None and 0 < model.alpha < 1
    assert model.wordvec.labels == model.labels
    text = "make the csv reader faster"
    from dmc.intent.features import extract

    probs = model.probabilities(text, extract(text))
    assert sum(probs) == pytest.approx(1.0)
    assert model.labels[probs.index(max(probs))] == "optimization"


def test_selection_scores_each_project_only_when_held_out() -> None:
    """select() is leave-one-project-out over the projects it is given: each candidate's
    score is reported per project, and a project whose words contradict the others
    does not decide the choice alone."""
    rows = []
    for src in ("p1", "p2", "p3"):
        for i in range(6):
            rows.append(Example(f"fix crash number {i} in {src}", "bug_fix", src))
            rows.append(Example(f"add new option {i} to {src}", "feature_implementation", src))
    bench = Workbench.prepare(rows, with_wordvec=False)
    params, tried = select(rows, bench, {"l2": (1.0, 10.0), "alpha": (0.0,)})
    assert params in [t["params"] for t in tried]
    assert all(set(t["per_project"]) == {"p1", "p2", "p3"} for t in tried)
    assert max(t["mean"] for t in tried) == 1.0


def test_macro_accuracy_weights_classes_equally() -> None:
    pairs = [("a", "a")] * 9 + [("a", "b"), ("b", "a")]
    assert macro_accuracy(pairs) == pytest.approx((0.9 + 0.0) / 2)


def test_unreachable_llm_falls_back_with_warning(dmc) -> None:
    port = free_port()  # nothing listens here
    res = dmc("intent", "--model", f"http://127.0.0.1:{port}/v1#m", "fix the login crash")
    assert res.code == 0
    intent = res.doc["intent"]
    assert intent["method"] == METHOD
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
        assert res.doc["intent"]["method"] == METHOD
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
    # the default 20 s is for people; a busy CI machine needs longer for the first answer
    res = dmc("intent", "--model", f"{smol_server.url}#smollm2",
              "add OAuth2 login keeping JWT working", env={"DMC_MODELS__TIMEOUT": "120"})
    assert res.code == 0, res.stderr
    intent = res.doc["intent"]
    assert intent["method"].startswith("llm openai:smollm2"), intent.get("fallback")
    assert intent["task_type"] in TASK_TYPES and intent["domain"] in DOMAINS
    assert intent["complexity"] in COMPLEXITIES and 0 <= intent["confidence"] <= 1
    assert intent["local"]["task_type"] == "feature_implementation"
