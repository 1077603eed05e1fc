"""Layered configuration: every layer, its source, and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from dmc.config import BY_KEY, SETTINGS, load, parse_assignment
from dmc.contract import DmcError


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def layers(tmp_path: Path, make_repo):
    repo = make_repo({".dmc.yaml": "generation:\n  temperature: 0.4\n  top_p: 0.8\n"})
    user = write(tmp_path / "xdg/dmc/config.yaml",
                 "generation:\n  temperature: 0.1\n  max_tokens: 999\n"
                 "desktop:\n  url: http://gpu-box:8765\n")
    env = {"XDG_CONFIG_HOME": str(tmp_path / "xdg"), "DMC_GENERATION__TOP_P": "0.5"}
    return repo, user, env


def test_each_layer_overrides_the_one_below_and_records_its_source(layers) -> None:
    repo, user, env = layers
    cfg = load(repo=repo, env=env, overrides={"generation.top_p": 0.3})
    assert cfg.get("generation.max_tokens") == 999
    assert cfg.sources["generation.max_tokens"] == f"user {user}"
    assert cfg.get("generation.temperature") == 0.4
    assert cfg.sources["generation.temperature"].startswith("project ")
    assert cfg.get("generation.top_p") == 0.3
    assert cfg.sources["generation.top_p"] == "flag"
    assert cfg.get("desktop.url") == ["http://gpu-box:8765"]
    assert cfg.sources["validation.max_iterations"] == "default"
    no_flag = load(repo=repo, env=env)
    assert no_flag.get("generation.top_p") == 0.5
    assert no_flag.sources["generation.top_p"] == "env DMC_GENERATION__TOP_P"


def test_project_file_found_from_a_subfolder(make_repo) -> None:
    repo = make_repo({".dmc.yaml": "rag:\n  top_k: 3\n", "src/app.py": ""})
    cfg = load(cwd=repo / "src", env={"XDG_CONFIG_HOME": str(repo / "none")})
    assert cfg.get("rag.top_k") == 3 and cfg.repo == repo.resolve()


def test_seed_settings_are_covered() -> None:
    for key in ("models.intent", "models.generation", "rag.top_k",
                "desktop.url", "desktop.timeout", "desktop.retry_attempts",
                "preprocessing.min_confidence", "generation.max_tokens",
                "generation.temperature", "generation.top_p", "validation.max_iterations",
                "validation.enable_type_checking", "server.host", "server.port"):
        assert key in BY_KEY
    assert all(s.help for s in SETTINGS)


@pytest.mark.parametrize("text, fragment", [
    ("generation:\n  temperature: hot\n", "generation.temperature must be a number"),
    ("generation:\n  temperature: 5\n", "<= 2"),
    ("validation:\n  max_iterations: 2.5\n", "whole number"),
    ("validation:\n  enable_linting: maybe\n", "true or false"),
    ("generation:\n  backend: magic\n", "one of auto"),
    ("desktop:\n  url: ftp://x\n", "http(s) URL"),
    ("desktop: [1, 2]\n", "must be a mapping"),
    ("- just\n- a list\n", "mapping of sections"),
    ("generation:\n  temperature: [\n", "line"),
    ("desktop:\n  token: abc123\n", "looks like a secret"),
])
def test_bad_files_are_one_line_usage_errors(make_repo, text: str, fragment: str) -> None:
    repo = make_repo({".dmc.yaml": text})
    with pytest.raises(DmcError) as err:
        load(repo=repo, env={"XDG_CONFIG_HOME": str(repo / "none")})
    assert fragment in err.value.message
    assert err.value.code == 2
    assert "\n" not in err.value.message


def test_unknown_keys_warn_with_a_suggestion(make_repo) -> None:
    repo = make_repo({".dmc.yaml": "generation:\n  temprature: 0.3\n"})
    cfg = load(repo=repo, env={"XDG_CONFIG_HOME": str(repo / "none"),
                               "DMC_RAG__TOPK": "3"})
    assert any("did you mean 'generation.temperature'" in w for w in cfg.warnings)
    assert any("DMC_RAG__TOPK" in w and "rag.top_k" in w for w in cfg.warnings)


def test_set_assignments_parse_yaml_scalars() -> None:
    assert parse_assignment("rag.top_k=5") == ("rag.top_k", 5)
    assert parse_assignment("validation.enable_linting=false") == (
        "validation.enable_linting", False)
    assert parse_assignment("desktop.url=[http://a:1, http://b:2]") == (
        "desktop.url", ["http://a:1", "http://b:2"])
    with pytest.raises(DmcError):
        parse_assignment("nonsense")
    with pytest.raises(DmcError, match="did you mean"):
        parse_assignment("rag.topk=3")


def test_config_show_cli(dmc, layers) -> None:
    repo, _user, env = layers
    res = dmc("config", "show", "--set", "rag.top_k=4", cwd=repo, env=env)
    assert res.code == 0, res.stderr
    doc = res.doc
    assert doc["values"]["rag"]["top_k"] == 4 and doc["sources"]["rag.top_k"] == "flag"
    assert doc["values"]["generation"]["temperature"] == 0.4
    assert doc["repo"] == str(repo.resolve())
    got = dmc("config", "get", "generation.top_p", cwd=repo, env=env)
    assert got.doc == 0.5


def test_stage_with_bad_config_exits_2_with_error_document(dmc, make_repo) -> None:
    repo = make_repo({".dmc.yaml": "preprocessing:\n  min_confidence: 7\n"})
    res = dmc("intent", "add a feature", cwd=repo)
    assert res.code == 2
    assert "preprocessing.min_confidence" in res.doc["error"]["message"]
    assert "Traceback" not in res.stderr
