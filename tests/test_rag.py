"""dmc index and dmc retrieve on real repositories: a real Chroma store on disk, a real
`chroma run` server, the real embedding model."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import orjson
import pytest

from dmc.rag.chunk import chunk_file
from dmc.rag.embed import load, package_dir
from dmc.rag.store import Manifest
from tests.support.servers import free_port

ROOT = Path(__file__).resolve().parent.parent
DMC = str(Path(sys.executable).with_name("dmc"))

PY_CONFIG = '''"""Configuration loading."""

import json


def load_config(path):
    """Read the JSON configuration file at path and return it as a dict."""
    with open(path) as fh:
        return json.load(fh)


class Settings:
    """Typed access to settings."""

    @staticmethod
    def parse_port(value):
        return int(value)
'''
JS_AUTH = '''const jwt = require("jsonwebtoken");

function signToken(user, secret) {
  return jwt.sign({ id: user.id }, secret, { expiresIn: "1h" });
}

const verifyToken = (token, secret) => jwt.verify(token, secret);

module.exports = { signToken, verifyToken };
'''
TS_CART = '''export interface Item { price: number; qty: number }

export function cartTotal(items: Item[]): number {
  return items.reduce((sum, i) => sum + i.price * i.qty, 0);
}
'''
README = "# Demo\n\nA demo project.\n\n## Deploying\n\nRun the container with docker compose.\n"


def repo_files() -> dict[str, str]:
    return {"app/config.py": PY_CONFIG, "web/auth.js": JS_AUTH, "web/cart.ts": TS_CART,
            "README.md": README, ".gitignore": "secret/\n*.log\n",
            "secret/keys.py": "KEY = 1\n", "debug.log": "noise\n",
            "node_modules/x/index.js": "module.exports = 1;\n",
            ".dmcignore": "generated/\n", "generated/big.py": "x = 1\n",
            "assets/logo.png": "\x89PNG\x00\x00binary"}


def index(dmc, repo: Path, *args: str, timeout: float = 120):
    res = dmc("index", *args, cwd=repo, timeout=timeout)
    assert res.code == 0, res.stderr
    return res.doc["index"]


def test_chunks_by_definition_with_context() -> None:
    chunks = chunk_file("app/config.py", PY_CONFIG, "python", 80)
    by_symbol = {c.symbol: c for c in chunks}
    assert by_symbol["load_config"].kind == "function"
    assert by_symbol["load_config"].start_line == 6
    assert by_symbol["Settings"].kind == "class"
    js = {c.symbol: c for c in chunk_file("web/auth.js", JS_AUTH, "javascript", 80)}
    assert {"signToken", "verifyToken"} <= set(js)
    ts = {c.symbol: c for c in chunk_file("web/cart.ts", TS_CART, "typescript", 80)}
    assert {"Item", "cartTotal"} <= set(ts)
    big = "class Big:\n" + "".join(f"    def m{i}(self):\n        return {i}\n\n"
                                   for i in range(40))
    parts = chunk_file("big.py", big, "python", 30)
    methods = [c for c in parts if c.kind == "method"]
    assert len(methods) == 40 and methods[0].context == "class Big"
    assert all(c.end_line - c.start_line < 30 for c in parts)
    embed_text = methods[0].embed_text()
    assert "big.py" in embed_text and "class Big" in embed_text


def test_decorators_stay_with_their_function() -> None:
    src = "import functools\n\n\n@functools.cache\ndef cached(x):\n    return x\n"
    [fn] = [c for c in chunk_file("d.py", src, "python", 80) if c.symbol == "cached"]
    assert fn.start_line == 4 and fn.text.startswith("@functools.cache")


def test_onnx_embeddings_match_sentence_transformers() -> None:
    from sentence_transformers import SentenceTransformer

    texts = [c.embed_text() for c in chunk_file("app/config.py", PY_CONFIG, "python", 80)]
    texts += ["where do we parse config?", "a" * 3000, "é漢字 unicode"]
    ours = load().embed(texts)
    ref = SentenceTransformer(str(package_dir()), device="cpu")
    ref.max_seq_length = 256
    theirs = ref.encode(texts, normalize_embeddings=True)
    cos = (ours * theirs).sum(axis=1)
    assert cos.min() >= 0.99, cos


def test_index_incremental_deletions_and_ignores(dmc, make_repo) -> None:
    repo = make_repo(repo_files())
    first = index(dmc, repo)
    assert first["added"] == 4 and first["embedded_chunks"] > 0
    again = index(dmc, repo)
    assert again["embedded_chunks"] == 0 and again["unchanged"] == 4
    (repo / "app/config.py").write_text(PY_CONFIG + "\n\ndef extra():\n    return 2\n")
    os.utime(repo / "README.md")  # touched, same content: nothing to embed
    third = index(dmc, repo)
    assert third["updated"] == 1 and third["unchanged"] == 3
    assert 0 < third["embedded_chunks"] < first["embedded_chunks"]
    (repo / "web/cart.ts").unlink()
    fourth = index(dmc, repo)
    assert fourth["removed"] == 1 and fourth["files"] == 3
    stats = dmc("index", "--stats", cwd=repo).doc["index"]
    assert stats["files"] == 3 and not any(stats["stale"].values())


def test_retrieve_finds_the_right_chunk_and_explains(dmc, make_repo) -> None:
    repo = make_repo(repo_files())
    index(dmc, repo)
    res = dmc("retrieve", "-k", "3", "where do we read the configuration file?", cwd=repo)
    assert res.code == 0, res.stderr
    chunks = res.doc["context"]["chunks"]
    assert chunks[0]["path"] == "app/config.py"
    assert "load_config" in [c["symbol"] for c in chunks[:2]]
    assert {"dense", "lexical"} & set(chunks[0]["why"])
    for c in chunks:
        assert {"path", "start_line", "end_line", "symbol", "language", "score", "text",
                "why"} <= set(c)
    boosted = dmc("retrieve", "-k", "3", "make web/cart.ts handle discounts", cwd=repo)
    top = boosted.doc["context"]["chunks"][0]
    assert top["path"] == "web/cart.ts" and top["why"].get("boost") == "mentioned file"


def test_missing_and_stale_index(dmc, make_repo) -> None:
    repo = make_repo(repo_files())
    missing = dmc("retrieve", "where is the config read?", cwd=repo)
    assert missing.code == 3 and "dmc index" in missing.stderr
    refreshed = dmc("retrieve", "--refresh", "where is the config read?", cwd=repo)
    assert refreshed.code == 0 and refreshed.doc["context"]["chunks"]
    (repo / "web/new.js").write_text("function fresh() { return 1; }\n")
    stale = dmc("retrieve", "fresh function", cwd=repo)
    assert stale.code == 3 and "stale" in stale.doc["error"]["message"]
    allowed = dmc("retrieve", "--allow-stale", "fresh function", cwd=repo)
    assert allowed.code == 0 and "stale" in allowed.stderr
    fixed = dmc("retrieve", "--refresh", "fresh function", cwd=repo)
    assert any(c["path"] == "web/new.js" for c in fixed.doc["context"]["chunks"])


def test_damaged_index_is_a_clear_error_and_rebuild_fixes_it(dmc, make_repo) -> None:
    repo = make_repo(repo_files())
    index(dmc, repo)
    (repo / ".dmc/index.sqlite").write_bytes(b"garbage" * 1000)
    for suffix in ("-wal", "-shm"):
        (repo / f".dmc/index.sqlite{suffix}").unlink(missing_ok=True)
    broken = dmc("retrieve", "config", cwd=repo)
    assert broken.code == 3 and "--rebuild" in broken.stderr
    assert "Traceback" not in broken.stderr
    rebuilt = index(dmc, repo, "--rebuild")
    assert rebuilt["added"] == 4
    assert dmc("retrieve", "config", cwd=repo).code == 0


def test_interrupted_index_recovers(dmc, make_repo, isolated_env) -> None:
    files = repo_files()
    for i in range(60):
        files[f"pkg/mod{i}.py"] = "".join(f"def f{i}_{j}(x):\n    return x + {j}\n\n\n"
                                          for j in range(30))
    repo = make_repo(files)
    proc = subprocess.Popen([DMC, "index"], cwd=repo, env=isolated_env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    manifest = repo / ".dmc/index.sqlite"
    deadline = time.monotonic() + 120
    import sqlite3

    while time.monotonic() < deadline:  # wait until some files are committed, then kill -9
        try:
            with sqlite3.connect(manifest) as db:
                if db.execute("SELECT count(*) FROM files").fetchone()[0] >= 3:
                    break
        except sqlite3.Error:
            pass
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    stats = dmc("index", "--stats", cwd=repo).doc["index"]
    assert stats["interrupted"] is True and stats["files"] < 64
    usable = dmc("retrieve", "--allow-stale", "config", cwd=repo)
    assert usable.code == 0
    done = index(dmc, repo)
    assert done["files"] == 64 and "recovered" in done
    final = dmc("index", "--stats", cwd=repo).doc["index"]
    assert not final["interrupted"] and not any(final["stale"].values())
    # locally the manifest is the whole index: no Chroma copy to keep in step
    assert not (repo / ".dmc/chroma").exists()


def test_self_check(dmc) -> None:
    res = dmc("index", "--self-check")
    assert res.code == 0 and res.doc["self_check"]["ok"] is True


def test_index_this_project(dmc, tmp_path: Path) -> None:
    """This repository itself, copied (tracked files only), indexed and queried."""
    copy = tmp_path / "dmc-copy"
    subprocess.run(["git", "clone", "-q", "--depth", "1", f"file://{ROOT}", str(copy)],
                   check=True)
    # the whole repository, embedded on two cores: minutes when the machine is busy
    summary = index(dmc, copy, timeout=900)
    assert summary["chunks"] > 300 and summary["languages"]["python"] > 200
    res = dmc("retrieve", "-k", "5", "where is the bearer token compared in constant time?",
              cwd=copy)
    paths = [c["path"] for c in res.doc["context"]["chunks"]]
    # the answer is whichever module holds the comparison today, found the way a person would
    holders = {str(p.relative_to(copy)) for p in copy.rglob("*.py")
               if "hmac.compare_digest(" in p.read_text(encoding="utf-8")}
    assert holders, "the copy has no constant-time comparison to look for"
    assert holders & set(paths), (holders, paths)


@pytest.mark.slow
def test_server_mode_against_chroma_run(dmc, make_repo, tmp_path: Path) -> None:
    port = free_port()
    chroma = subprocess.Popen([str(Path(sys.executable).with_name("chroma")), "run", "--path",
                               str(tmp_path / "chroma-server"), "--host", "127.0.0.1",
                               "--port", str(port)], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        import httpx

        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/api/v2/heartbeat", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.3)
        repo = make_repo(repo_files())
        summary = index(dmc, repo, "--chroma-url", url)
        assert summary["store"] == f"chroma server {url}"
        assert not (repo / ".dmc/chroma").exists()
        res = dmc("retrieve", "--chroma-url", url, "-k", "2", "sign a JWT for a user",
                  cwd=repo)
        assert res.code == 0, res.stderr
        assert res.doc["context"]["chunks"][0]["path"] == "web/auth.js"
    finally:
        chroma.terminate()
        chroma.wait(10)
    down = dmc("retrieve", "--chroma-url", url, "sign a JWT", cwd=repo)
    assert down.code == 3 and "Chroma server" in down.doc["error"]["message"]


def test_retrieve_output_feeds_optimize(dmc, make_repo) -> None:
    repo = make_repo(repo_files())
    index(dmc, repo)
    retrieved = dmc("retrieve", "add an expiry option to signToken", cwd=repo)
    optimized = dmc("optimize", stdin=retrieved.stdout, cwd=repo)
    assert optimized.code == 0, optimized.stderr
    code = optimized.doc["payload"]["context"]["existing_code"]
    assert "web/auth.js" in code and "signToken" in code["web/auth.js"]
    assert np.isfinite(orjson.loads(retrieved.stdout)["context"]["chunks"][0]["score"])


def test_disk_full_during_indexing_keeps_the_index_consistent(dmc, make_repo,
                                                              isolated_env) -> None:
    """A file-size limit stands in for a full disk: writes fail with EFBIG."""
    files = repo_files()
    repo = make_repo(files)
    index(dmc, repo)  # a consistent index to start from
    for i in range(40):
        (repo / f"bulk/m{i}.py").parent.mkdir(exist_ok=True)
        (repo / f"bulk/m{i}.py").write_text("".join(
            f"def g{i}_{j}(v):\n    return v * {j}\n\n\n" for j in range(40)))
    limit_kib = sum(p.stat().st_size for p in (repo / ".dmc").rglob("*") if p.is_file()) \
        // 1024 + 64
    script = f"trap '' XFSZ; ulimit -f {limit_kib}; exec {DMC} index"
    proc = subprocess.run(["bash", "-c", script], cwd=repo, env=isolated_env,
                          capture_output=True, timeout=300)
    assert proc.returncode == 3, proc.stderr
    assert b"Traceback" not in proc.stderr
    assert orjson.loads(proc.stdout)["error"]["stage"] == "index"
    stats = dmc("index", "--stats", cwd=repo)
    assert stats.code == 0  # still readable
    finished = index(dmc, repo)  # space is back: the next run completes the work
    assert finished["files"] == 44
    assert dmc("retrieve", "-k", "2", "multiply v by 7", cwd=repo).code == 0


def test_at_most_max_per_file_chunks_of_one_file(dmc, make_repo) -> None:
    from dmc.rag.retrieve import MAX_PER_FILE

    files = repo_files()
    files["app/parsers.py"] = "".join(
        f"def parse_config_{i}(path):\n    \"\"\"Parse configuration file variant {i}.\"\"\"\n"
        f"    return open(path).read()\n\n\n" for i in range(12))
    repo = make_repo(files)
    index(dmc, repo)
    res = dmc("retrieve", "-k", "8", "parse the configuration file", cwd=repo)
    paths = [c["path"] for c in res.doc["context"]["chunks"]]
    assert paths.count("app/parsers.py") == MAX_PER_FILE < 12
    assert "app/config.py" in paths


def _downgrade_to_schema_1(manifest: Path) -> None:
    """Turn a fresh index into what dmc wrote before name vectors and stemming."""
    import sqlite3

    db = sqlite3.connect(manifest)
    db.executescript("""
        ALTER TABLE chunks DROP COLUMN hvec;
        DROP TABLE chunks_fts;
        CREATE VIRTUAL TABLE chunks_fts USING fts5(body, tokenize='unicode61');
        INSERT INTO chunks_fts (rowid, body) SELECT rowid, text FROM chunks;
        UPDATE meta SET value = '1' WHERE key = 'schema';
    """)
    db.commit()
    db.close()


def test_an_index_from_an_older_dmc_is_upgraded_in_place(dmc, make_repo) -> None:
    repo = make_repo(repo_files())
    built = index(dmc, repo)
    _downgrade_to_schema_1(repo / ".dmc/index.sqlite")
    old = dmc("retrieve", "where is the port parsed?", cwd=repo)
    assert old.code == 3 and "older dmc" in old.stderr and "dmc index" in old.stderr
    assert "Traceback" not in old.stderr
    upgraded = index(dmc, repo)
    # the code is not re-embedded: only the short name texts are
    assert upgraded["embedded_chunks"] == 0 and upgraded["unchanged"] == 4
    assert upgraded["upgraded_chunks"] == built["chunks"]
    assert "upgraded_chunks" not in index(dmc, repo)
    res = dmc("retrieve", "--mode", "lexical", "-k", "1", "parsing ports", cwd=repo)
    assert res.code == 0, res.stderr
    # stemmed: neither "parsing" nor "ports" is a word of the code; "parse" and "port" are
    assert "def parse_port" in res.doc["context"]["chunks"][0]["text"]
    hybrid = dmc("retrieve", "-k", "2", "where is the port parsed?", cwd=repo)
    assert any("name" in c["why"] for c in hybrid.doc["context"]["chunks"])


def test_named_symbol_and_name_vector_explain_the_match(dmc, make_repo) -> None:
    repo = make_repo(repo_files())
    index(dmc, repo)
    res = dmc("retrieve", "-k", "3", "make `signToken` accept an audience", cwd=repo)
    assert res.code == 0, res.stderr
    top = res.doc["context"]["chunks"][0]
    assert top["symbol"] == "signToken" and top["why"]["boost"] == "defines signToken"
    assert {"dense", "name", "lexical"} <= set(top["why"])


def _manifest_with(tmp_path: Path, layout: dict[str, int]) -> tuple[Manifest, dict[str, list[int]]]:
    """A real manifest holding ``n`` small chunks per path; returns it and the rowids."""
    from dmc.rag.chunk import Chunk

    manifest = Manifest(tmp_path / "index.sqlite", create=True)
    rowids: dict[str, list[int]] = {}
    for path, n in layout.items():
        chunks = [Chunk(path, 10 * i + 1, 10 * i + 5, f"def f{i}(): pass", f"f{i}", "function",
                        "python") for i in range(n)]
        vecs = np.zeros((n, 384), dtype=np.float32)
        manifest.replace_file(path, "sha", 1, 1, chunks, vecs, vecs)
        rowids[path] = [r for (r,) in manifest.db.execute(
            "SELECT rowid FROM chunks WHERE path = ? ORDER BY start_line", (path,))]
    return manifest, rowids


def test_further_chunks_of_a_file_count_for_less(tmp_path: Path) -> None:
    from dmc.rag.retrieve import MAX_PER_FILE, SAME_FILE_DECAY, _diverse

    manifest, ids = _manifest_with(tmp_path, {"a.py": 5, "b.py": 1})
    a, (b,) = ids["a.py"], ids["b.py"]
    # a's second chunk beats b only while its score after one decay is still higher
    close = {a[0]: 1.0, a[1]: 0.9, b: 0.85}
    assert [c["path"] for c in _diverse(manifest, close, {}, 2)] == ["a.py", "b.py"]
    clear = {a[0]: 1.0, a[1]: 0.95, b: 0.5}
    assert 0.95 * SAME_FILE_DECAY > 0.5
    assert [c["path"] for c in _diverse(manifest, clear, {}, 2)] == ["a.py", "a.py"]
    many = {r: 1.0 - n / 100 for n, r in enumerate(a)}
    assert len(_diverse(manifest, many, {}, 5)) == MAX_PER_FILE  # the cap, nothing else left
    manifest.close()


def test_a_symbol_defined_in_many_places_boosts_each_less(tmp_path: Path) -> None:
    from dmc.rag.retrieve import Query, _boost

    manifest, ids = _manifest_with(tmp_path, {"a.py": 2, "b.py": 1, "c.py": 1})
    score: dict[int, float] = {}
    why: dict[int, dict] = {}
    # f0 is defined in a.py, b.py and c.py; f1 only in a.py
    _boost(manifest, Query("x", mentioned_symbols=("f0", "mod.f1")), score, why)
    assert score[ids["a.py"][1]] == pytest.approx(3 * score[ids["b.py"][0]])
    assert why[ids["a.py"][1]]["boost"] == "defines f1"
    manifest.close()


def test_name_text_splits_identifiers_into_words() -> None:
    from dmc.rag.chunk import Chunk

    chunk = Chunk("pkg/http.py", 1, 3, "def parse_header(raw): ...", "parse_header", "method",
                  "python", "class HTTPRequestParser")
    assert chunk.name_text() == "class http request parser parse header"


def test_names_bm25_finds_a_function_by_what_its_name_says(tmp_path: Path) -> None:
    """The name's words rank a function whose body never says them above one whose long
    body says them once among many other identifiers."""
    from dmc.rag.chunk import Chunk
    from dmc.rag.retrieve import lexical_terms, name_lexical_ranking

    manifest = Manifest(tmp_path / "index.sqlite", create=True)
    noisy = "def render_page(ctx):\n" + "\n".join(
        f"    v{i} = ctx.get('k{i}')  # merge dicts sometimes" for i in range(40))
    chunks = [Chunk("a.py", 1, 2, "def merge_dicts(a, b):\n    return {**a, **b}",
                    "merge_dicts", "function", "python"),
              Chunk("b.py", 1, 41, noisy, "render_page", "function", "python")]
    vecs = np.zeros((2, 384), dtype=np.float32)
    for c in chunks:
        manifest.replace_file(c.path, "sha", 1, 1, [c], vecs[:1], vecs[:1])
    ranked = name_lexical_ranking(manifest, lexical_terms("merge two dicts into one"), 10)
    top_path = manifest.db.execute("SELECT path FROM chunks WHERE rowid = ?",
                                   (ranked[0][0],)).fetchone()[0]
    assert top_path == "a.py" and len(ranked) == 1  # render_page's name says neither word
    # a file's chunks leave the names index with it
    manifest.remove_file("a.py")
    assert name_lexical_ranking(manifest, ["merg"], 10) == []
    manifest.close()


def test_a_schema_2_index_gets_its_names_index_on_open(tmp_path: Path) -> None:
    """An index written before the names' full-text index is upgraded in place by any
    command (text only, no embedding), read-only ones included."""
    import sqlite3

    from dmc.rag.chunk import Chunk
    from dmc.rag.retrieve import name_lexical_ranking
    from dmc.rag.store import SCHEMA_VERSION

    path = tmp_path / "index.sqlite"
    manifest = Manifest(path, create=True)
    chunk = Chunk("a.py", 1, 2, "def load_config(p): ...", "load_config", "function", "python")
    vec = np.zeros((1, 384), dtype=np.float32)
    manifest.replace_file("a.py", "sha", 1, 1, [chunk], vec, vec)
    manifest.close()
    db = sqlite3.connect(path)
    db.executescript("DROP TABLE names_fts; UPDATE meta SET value = '2' WHERE key = 'schema';")
    db.commit()
    db.close()
    again = Manifest(path, create=False)
    assert again.get_meta("schema") == str(SCHEMA_VERSION)
    assert len(name_lexical_ranking(again, ["config"], 5)) == 1
    again.close()
