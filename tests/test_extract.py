"""dmc extract: what a request names, checked against a real repository."""

from __future__ import annotations

import json
import os
from pathlib import Path

from dmc.extract import extract
from dmc.extract.deps import read_dependencies

PACKAGE_JSON = json.dumps({"name": "app", "dependencies": {"express": "^4", "jsonwebtoken": "^9"},
                           "devDependencies": {"jest": "^29"}})


def test_frameworks_requirements_constraints_languages() -> None:
    ex = extract("add JWT authentication to the Express API, with tests, without breaking "
                 "existing sessions", None)
    assert ex["frameworks"] == ["express"]
    assert {"authentication", "api", "testing"} <= set(ex["requirements"])
    assert {"jwt_tokens", "backward_compatible"} <= set(ex["constraints"])
    assert ex["languages"] == ["javascript"]


def test_ambiguous_words_need_to_be_written_as_names() -> None:
    assert "express" not in extract("express the total as a percentage", None)["frameworks"]
    assert "click" not in extract("click the button to submit", None)["libraries"]
    assert "click" in extract("port the CLI from argparse to Click", None)["libraries"]
    assert "go" not in extract("go through the handlers", None)["languages"]
    assert "go" in extract("rewrite the worker in Go", None)["languages"]


def test_mentioned_files_are_checked_inside_the_repo(make_repo, tmp_path: Path) -> None:
    repo = make_repo({"models/User.js": "module.exports = {}\n", "package.json": PACKAGE_JSON,
                      "routes/api.js": ""})
    secret = tmp_path / "outside.txt"
    secret.write_text("secret")
    os.symlink(secret, repo / "link.txt")
    ex = extract("update models/User.js and routes/missing.js, see ../outside.txt, "
                 "link.txt and /etc/passwd; also User.js", repo)
    files = {f["path"]: f for f in ex["mentioned_files"]}
    assert files["models/User.js"]["exists"] is True
    assert files["routes/missing.js"]["exists"] is False
    assert files["../outside.txt"].get("outside_repo") is True
    assert files["link.txt"].get("outside_repo") is True
    assert files["/etc/passwd"].get("outside_repo") is True
    assert files["User.js"]["candidates"] == ["models/User.js"]


def test_dependency_detection(make_repo) -> None:
    repo = make_repo({
        "package.json": PACKAGE_JSON,
        "backend/requirements.txt": "fastapi>=0.100\n# comment\nSQLAlchemy==2.0\n-e .\n",
        "backend/pyproject.toml": '[project]\nname="x"\ndependencies=["httpx>=0.27", '
                                  '"pydantic"]\n[project.optional-dependencies]\n'
                                  'dev=["pytest"]\n',
        "node_modules/left-pad/package.json": json.dumps({"dependencies": {"react": "1"}}),
    })
    ex = extract("add a health endpoint", repo)
    paths = {d["path"]: d for d in ex["dependency_files"]}
    assert set(paths) == {"package.json", "backend/requirements.txt", "backend/pyproject.toml"}
    assert paths["package.json"]["ecosystem"] == "npm"
    assert set(ex["repo_frameworks"]) == {"express", "fastapi"}
    assert {"jsonwebtoken", "jest", "sqlalchemy", "httpx", "pydantic", "pytest"} <= set(
        ex["repo_libraries"])
    assert "react" not in ex.get("repo_frameworks", [])


def test_unreadable_or_broken_dependency_files_are_skipped(tmp_path: Path) -> None:
    bad = tmp_path / "package.json"
    bad.write_text("{not json")
    assert read_dependencies(bad) == []
    toml = tmp_path / "pyproject.toml"
    toml.write_text("[project\n")
    assert read_dependencies(toml) == []


def test_symbols_and_file_languages() -> None:
    ex = extract("make `parse_config` handle empty files in src/config_loader.py", None)
    assert "parse_config" in ex["mentioned_symbols"]
    assert ex["languages"] == ["python"]
    assert ex["mentioned_files"] == [{"path": "src/config_loader.py", "exists": None}]


def test_extract_cli_computes_intent_and_uses_repo(dmc, make_repo) -> None:
    repo = make_repo({"package.json": PACKAGE_JSON, "models/User.js": ""})
    res = dmc("extract", "--repo", str(repo), "add JWT login to models/User.js")
    assert res.code == 0, res.stderr
    doc = res.doc
    assert doc["intent"]["task_type"] == "feature_implementation"
    assert "computing it" in res.stderr
    assert doc["extraction"]["mentioned_files"] == [{"path": "models/User.js", "exists": True}]
    assert doc["input"]["repo"] == str(repo)


def test_extract_outside_any_repo_says_so(dmc) -> None:
    res = dmc("extract", "update setup.py")
    assert res.code == 0
    assert res.doc["extraction"]["mentioned_files"] == [{"path": "setup.py", "exists": None}]
    assert "no repository found" in res.stderr


def test_word_pairs_are_not_files_unless_they_exist(make_repo) -> None:
    repo = make_repo({"src/lib/x.py": ""})
    ex = extract("make read/write locking and/or caching work in src/lib", repo)
    assert [f["path"] for f in ex["mentioned_files"]] == ["src/lib"]
