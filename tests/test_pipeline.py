"""The pipeline API (dmc/pipeline.py), the history store and the context cache, in-process,
on a real indexed repository (the real embedding model; generation is not needed here)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

from dmc.config import load
from dmc.contract import DmcError, new_document
from dmc.history import History, path_for
from dmc.pipeline import STAGES, Cancelled, Warm, run
from dmc.service.cache import ContextCache, cache_key, index_version

PROJECT = {
    "textutil/__init__.py": '"""Text helpers."""\n',
    "textutil/words.py": ('"""Word helpers."""\n\n\ndef count_words(text: str) -> int:\n'
                          '    """How many whitespace-separated words text has."""\n'
                          "    return len(text.split())\n"),
    "README.md": "# textutil\n\nSmall text helpers.\n",
}
REQUEST = "add a function count_lines(text) to textutil/words.py"


@pytest.fixture(scope="module")
def indexed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    repo = tmp_path_factory.mktemp("pipeline") / "repo"
    repo.mkdir()
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    for rel, text in PROJECT.items():
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / rel).write_text(text)
    subprocess.run([str(Path(sys.executable).with_name("dmc")), "index"], cwd=repo,
                   check=True, capture_output=True)
    return repo


def _without_ids(doc: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in doc.items() if k != "run"}
    out["payload"] = {k: v for k, v in doc["payload"].items()
                      if k not in ("request_id", "timestamp")}
    return out


def test_parallel_and_sequential_give_the_same_document_and_events(indexed: Path) -> None:
    cfg = load(repo=indexed, env={})
    warm = Warm(cfg)
    seq_events: list[dict[str, Any]] = []
    par_events: list[dict[str, Any]] = []
    one = run(new_document(REQUEST, str(indexed)), cfg, stop_after="optimize", warm=warm,
              on_event=seq_events.append)
    two = run(new_document(REQUEST, str(indexed)), cfg, stop_after="optimize", warm=warm,
              on_event=par_events.append, parallel=True)
    assert _without_ids(one) == _without_ids(two)
    assert list(one) == list(two)  # the same key order, so the same JSON
    assert any(c["path"] == "textutil/words.py" for c in one["context"]["chunks"])
    assert list(one["run"]["timings"]) == ["intent", "extract", "retrieve", "optimize"]
    assert "parallel_wall_seconds" in two["run"] and "parallel_wall_seconds" not in one["run"]

    def shape(events: list[dict[str, Any]]) -> list[tuple[str, str]]:
        return [(e["event"], e.get("stage", "")) for e in events]

    assert shape(seq_events) == shape(par_events)
    assert shape(seq_events)[:2] == [("stage_started", "intent"), ("stage_finished", "intent")]
    retrieved = next(e for e in seq_events if e["event"] == "stage_finished"
                     and e["stage"] == "retrieve")
    assert retrieved["summary"].startswith(" — ") and retrieved["detail"]["chunks"] >= 1


def test_a_range_of_stages_and_bad_ranges(indexed: Path) -> None:
    cfg = load(repo=indexed, env={})
    first = run(new_document(REQUEST, str(indexed)), cfg, stop_after="extract")
    assert {"intent", "extraction"} <= set(first) and "context" not in first
    rest = run({k: v for k, v in first.items() if k != "run"}, cfg, start="retrieve",
               stop_after="optimize")
    assert list(rest["run"]["timings"]) == ["retrieve", "optimize"] and "payload" in rest
    with pytest.raises(DmcError, match="comes before"):
        run(first, cfg, start="optimize", stop_after="intent")
    with pytest.raises(DmcError, match="must be one of"):
        run(first, cfg, stop_after="deploy")
    with pytest.raises(DmcError, match="no payload"):  # generate needs what optimize gives
        run(new_document(REQUEST, str(indexed)), cfg, start="generate")


def test_cancellation_between_stages(indexed: Path) -> None:
    cfg = load(repo=indexed, env={})
    seen: list[str] = []
    calls = {"n": 0}

    def cancelled() -> bool:
        calls["n"] += 1
        return calls["n"] > 2  # let two stages start, then stop

    with pytest.raises(Cancelled) as stopped:
        run(new_document(REQUEST, str(indexed)), cfg, cancelled=cancelled,
            on_event=lambda e: seen.append(e.get("stage", "")))
    assert stopped.value.code == 130
    assert "intent" in seen and "retrieve" not in seen
    with pytest.raises(Cancelled):
        run(new_document(REQUEST, str(indexed)), cfg, parallel=True, cancelled=lambda: True)


def test_stage_names_agree_with_the_cli() -> None:
    from dmc.commands.run import STAGES as CLI_STAGES

    assert CLI_STAGES == STAGES


def test_history_folds_in_the_old_jsonl_and_continues_from_it(tmp_path: Path) -> None:
    state = tmp_path / ".dmc"
    state.mkdir()
    old = [{"ts": "2026-01-02T03:04:05Z", "text": "first", "status": "success",
            "files": [{"path": "a.py", "code": "x = 1\n"}]},
           {"ts": "2026-01-02T03:05:05Z", "text": "second", "status": "partial",
            "files": [{"path": "b.py", "code": "y = 2\n"}]}]
    (state / "history.jsonl").write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in old)
                                          + b"{torn")
    history = History(path_for(tmp_path))
    assert [r["text"] for r in history.runs("cli")] == ["first", "second"]
    assert history.last_with_code()["text"] == "second"  # type: ignore[index]
    history.close()
    again = History(path_for(tmp_path))  # folded in once, not twice
    assert len(again.runs("cli")) == 2
    run_id = again.record("third", "success", [{"path": "c.py", "code": "z = 3\n"}])
    assert again.last_with_code()["id"] == run_id  # type: ignore[index]
    session = again.new_session("web")
    live = again.start_run(session, "fourth")
    for n in range(3):
        again.add_event(live, n, {"event": "x", "seq": n})
    again.finish_run(live, "done", {"dmc": 1, "result": {"files": []}})
    assert [e["seq"] for e in again.events(live, after=0)] == [1, 2]
    assert again.run(live)["events"] == 3  # type: ignore[index]
    again.close()


def test_context_cache_ttl_lru_and_keys(tmp_path: Path) -> None:
    now = {"t": 100.0}
    cache = ContextCache(ttl=10, max_entries=2, clock=lambda: now["t"])
    cache.put("a", {"n": 1}, [])
    assert cache.get("a") is not None
    now["t"] = 111.0
    assert cache.get("a") is None  # expired
    cache.put("a", {}, [])
    cache.put("b", {}, [])
    cache.get("a")
    cache.put("c", {}, [])  # b is the least recently used
    assert cache.get("b") is None and cache.get("a") is not None
    assert cache.stats()["entries"] == 2
    settings = {"rag.top_k": 8}
    assert cache_key("x", "v1", settings) == cache_key("x", "v1", dict(settings))
    assert cache_key("x", "v1", settings) != cache_key("x", "v2", settings)
    assert cache_key("x", "v1", settings) != cache_key("x", "v1", {"rag.top_k": 9})
    assert index_version(tmp_path / "none.sqlite") == "none"


def test_index_version_changes_when_the_index_does(indexed: Path) -> None:
    manifest = indexed / ".dmc" / "index.sqlite"
    before = index_version(manifest)
    assert index_version(manifest) == before  # reading does not change it
    (indexed / "textutil" / "more.py").write_text("def more() -> int:\n    return 1\n")
    subprocess.run([str(Path(sys.executable).with_name("dmc")), "index"], cwd=indexed,
                   check=True, capture_output=True)
    assert index_version(manifest) != before


def test_newer_draft_text_cancels_the_older_preparation(indexed: Path, monkeypatch) -> None:
    """The service core in-process, its extraction slowed down (as on a big repository)
    so that the newer text certainly arrives while the older one is being prepared."""
    import time

    import dmc.extract
    from dmc.service.core import Service

    real = dmc.extract.analyze

    def slow(*args: Any, **kwargs: Any) -> Any:
        time.sleep(0.6)
        return real(*args, **kwargs)

    monkeypatch.setattr(dmc.extract, "analyze", slow)
    service = Service(load(repo=indexed, env={}))
    try:
        assert service.draft("add a func")["state"] == "too_short"
        older = service.draft("rename count_words to word_count everywhere")
        newer = service.draft("rename count_words to n_words everywhere")
        assert older["state"] == newer["state"] == "pending"
        assert service.draft_status(older["draft_id"], wait=10)["state"] == "cancelled"
        ready = service.draft_status(newer["draft_id"], wait=10)
        assert ready["state"] == "ready" and ready["prepare_seconds"] >= 0.6
        again = service.draft("rename count_words to n_words everywhere")
        assert again["state"] == "ready"  # the same text: from the cache, no new work
    finally:
        service.close()


def test_vectors_kept_in_memory_rank_as_read_from_sqlite(indexed: Path) -> None:
    from dmc.rag.embed import load as load_embedder
    from dmc.rag.retrieve import _KEPT, dense_rankings, keep_vectors_in_memory
    from dmc.rag.store import Manifest

    manifest = Manifest(indexed / ".dmc" / "index.sqlite", create=False)
    vector = load_embedder(for_query=True).embed(["count the words of a text"])[0]
    try:
        cold = dense_rankings(manifest, vector, 5, ("vec", "hvec"))
        keep_vectors_in_memory()
        first = dense_rankings(manifest, vector, 5, ("vec", "hvec"))
        assert str(manifest.path) in _KEPT
        again = dense_rankings(manifest, vector, 5, ("vec",))
        assert first == cold and again["vec"] == cold["vec"] and "hvec" not in again
        version = _KEPT[str(manifest.path)][0]
        manifest.db.execute("UPDATE files SET indexed_at = indexed_at + 1")  # a new index
        dense_rankings(manifest, vector, 5, ("vec",))
        assert _KEPT[str(manifest.path)][0] != version
    finally:
        keep_vectors_in_memory(False)
        manifest.close()
    assert not _KEPT


def test_index_keeps_no_local_chroma_copy_and_removes_an_old_one(indexed: Path) -> None:
    legacy = indexed / ".dmc" / "chroma"
    legacy.mkdir(exist_ok=True)
    (legacy / "chroma.sqlite3").write_bytes(b"left by an older dmc")
    out = subprocess.run([str(Path(sys.executable).with_name("dmc")), "index"], cwd=indexed,
                         check=True, capture_output=True).stdout
    summary = orjson.loads(out)["index"]
    assert summary["store"].startswith("sqlite ")
    assert summary["removed_unused_chroma_copy"] == str(legacy)
    assert not legacy.exists()
