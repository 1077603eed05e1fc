"""CLI manners, as git, ripgrep and ruff have them: short flags, colour rules, quiet and
verbose, listed choices, usage errors in the pipe, OLLAMA_HOST, and never swapping a model
or server the user named. The real `dmc` in subprocesses unless said otherwise."""

from __future__ import annotations

import os
import pty
import re
import subprocess
import typing
from pathlib import Path

import orjson
import pytest
import typer.testing
from dmc.commands.common import BackendName
from dmc.commands.main import app

from dmc import __version__
from dmc.config import BY_KEY, load, ollama_host_url
from dmc.generate.backends import LlamaCppBackend, make_backend
from tests.conftest import DMC
from tests.support.servers import free_port

#: SGR sequences that set a colour (30-37, 90-97 foreground, 38;... extended); bold is not one
COLOUR_SGR = re.compile(rb"\x1b\[(?:[0-9;]*;)?(?:3[0-8]|9[0-7])(?:;[0-9;]*)?m")


def test_short_help_and_version(dmc) -> None:
    assert dmc("-V").stdout == dmc("--version").stdout == f"dmc {__version__}\n".encode()
    for args in (("-h",), ("intent", "-h"), ("agent", "serve", "-h"), ("config", "-h")):
        res = dmc(*args)
        assert res.code == 0 and res.stdout.startswith(b"Usage: dmc"), args


def test_usage_error_writes_an_error_document_the_next_stage_reports(isolated_env,
                                                                     tmp_path: Path) -> None:
    script = (f"set -o pipefail; {DMC} intent --no-such-flag 'fix it' | {DMC} extract; "
              "echo \"statuses ${PIPESTATUS[*]}\" >&2")
    proc = subprocess.run(["bash", "-c", script], capture_output=True, env=isolated_env,
                          cwd=tmp_path, timeout=60)
    assert b"statuses 2 2" in proc.stderr
    doc = orjson.loads(proc.stdout)  # extract passed intent's error document on, unchanged
    assert doc["error"]["stage"] == "intent" and doc["error"]["code"] == 2
    assert "--no-such-flag" in doc["error"]["message"]
    stderr = proc.stderr.decode()
    assert "dmc intent: error: No such option: --no-such-flag" in stderr
    assert "no input" not in stderr and "Usage:" not in stderr  # one line, not a usage dump


def test_bad_choice_is_a_usage_error_naming_the_choices(dmc) -> None:
    res = dmc("retrieve", "--mode", "fuzzy", "where is the parser")
    assert res.code == 2
    assert res.doc["error"]["stage"] == "retrieve"
    assert "'hybrid', 'dense', 'lexical'" in res.doc["error"]["message"]
    assert len(res.stderr.strip().splitlines()) == 1


def test_run_stop_after_is_a_choice_of_the_stages(dmc) -> None:
    res = dmc("run", "--stop-after", "deploy", "add a route")
    assert res.code == 2 and res.doc["error"]["stage"] == "run"
    assert "'intent', 'extract', 'retrieve', 'optimize', 'generate', 'validate'" in \
        res.doc["error"]["message"]
    assert len(res.stderr.strip().splitlines()) == 1
    assert "<intent|extract|retrieve|optimize|generate|validate>" in \
        dmc("run", "-h").stdout.decode()


def test_fixed_value_options_list_their_choices_in_help(dmc) -> None:
    assert "<hybrid|dense|lexical>" in dmc("retrieve", "-h").stdout.decode()
    backends = "|".join(typing.get_args(BackendName))
    for args in (("generate", "-h"), ("agent", "serve", "-h")):
        assert f"<{backends}>" in dmc(*args).stdout.decode(), args
    # the --backend choices are generation.backend's: one list of values, two views of it
    assert set(typing.get_args(BackendName)) == set(BY_KEY["generation.backend"].choices or ())


def on_a_terminal(args: list[str], env: dict[str, str], cwd: Path) -> tuple[int, bytes]:
    """Run dmc with stderr on a pseudo-terminal; returns (exit code, what the terminal got)."""
    master, slave = pty.openpty()
    proc = subprocess.Popen([DMC, *args], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=slave, env=env, cwd=cwd)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    return proc.wait(timeout=60), b"".join(chunks)


def test_no_color_removes_colour_but_keeps_the_table(isolated_env, tmp_path: Path) -> None:
    env = dict(isolated_env, COLUMNS="160", TERM="xterm-256color")
    env.pop("NO_COLOR", None)
    env.pop("FORCE_COLOR", None)
    code, coloured = on_a_terminal(["intent", "--no-such-flag"], env, tmp_path)
    assert code == 2 and COLOUR_SGR.search(coloured), "a terminal gets colour by default"
    for args, variant in ((["config", "show"], dict(env, NO_COLOR="1")),
                          (["--color", "never", "config", "show"], env)):
        code, shown = on_a_terminal(args, variant, tmp_path)
        assert code == 0 and b"setting" in shown and b"models.generation" in shown, args
        code, error = on_a_terminal([*args[:-2], "intent", "--no-such-flag"], variant,
                                    tmp_path)
        assert code == 2 and b"error:" in error and not COLOUR_SGR.search(error), args


def test_force_color_and_color_flag_colour_the_error_line(dmc) -> None:
    def error_line(*args: str, **env: str) -> str:
        res = dmc(*args, "intent", "--no-such-flag", env=env)
        assert res.code == 2
        return res.stderr

    plain = error_line()  # the fixture sets NO_COLOR; stderr is a pipe
    assert "dmc intent: error: No such option" in plain and "\x1b[" not in plain
    assert "\x1b[" not in error_line(FORCE_COLOR="1")  # NO_COLOR outranks FORCE_COLOR
    assert "\x1b[1;31merror:\x1b[0m" in error_line(FORCE_COLOR="1", NO_COLOR="")
    assert "\x1b[1;31merror:\x1b[0m" in error_line("--color", "always")  # the flag wins
    assert "\x1b[" not in error_line("--color", "never", FORCE_COLOR="1", NO_COLOR="")


def test_quiet_flag_silences_notes_but_not_errors(dmc) -> None:
    loud = dmc("extract", "add JWT login to the Express API")
    assert loud.code == 0 and "no intent in the input" in loud.stderr
    quiet = dmc("-q", "extract", "add JWT login to the Express API")
    assert quiet.code == 0 and quiet.stderr == "" and quiet.doc == loud.doc
    failed = dmc("-q", "intent", "--no-such-flag")
    assert failed.code == 2 and "error: No such option" in failed.stderr


def test_flags_stand_for_the_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    """-q and -v set DMC_QUIET and DMC_DEBUG for the stage code (and for any dmc a hook
    starts from this one). In-process: the root callback's effect on the environment."""
    for name in ("DMC_QUIET", "DMC_DEBUG"):  # recorded, so monkeypatch removes them after
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)
    runner = typer.testing.CliRunner()
    result = runner.invoke(app, ["-q", "-v", "config", "get", "rag.top_k"])
    assert result.exit_code == 0, result.output
    assert os.environ.get("DMC_QUIET") == "1" and os.environ.get("DMC_DEBUG") == "1"


@pytest.mark.parametrize(("value", "url"), [
    ("", "http://127.0.0.1:11434"),
    ("0.0.0.0", "http://127.0.0.1:11434"),  # noqa: S104 - the usual server setting
    ("gpu-box", "http://gpu-box:11434"),
    ("gpu-box:8080", "http://gpu-box:8080"),
    (":9999", "http://127.0.0.1:9999"),
    ("https://ollama.example", "https://ollama.example:443"),
    ("http://gpu-box/ollama/", "http://gpu-box:80/ollama"),
    ("[::1]:11500", "http://[::1]:11500"),
    ("gpu-box:notaport", "http://127.0.0.1:11434"),
])
def test_ollama_host_is_read_as_ollama_reads_it(value: str, url: str) -> None:
    assert ollama_host_url(value) == url


def test_ollama_host_is_a_default_that_files_and_dmc_variables_override(make_repo) -> None:
    repo = make_repo({"a.py": ""})
    env = {"XDG_CONFIG_HOME": str(repo / "none"), "OLLAMA_HOST": "gpu-box:8080"}
    cfg = load(repo=repo, env=env)
    assert cfg.get("models.ollama_url") == "http://gpu-box:8080"
    assert cfg.sources["models.ollama_url"] == "env OLLAMA_HOST"
    (repo / ".dmc.yaml").write_text("models:\n  ollama_url: http://other:1\n")
    assert load(repo=repo, env=env).get("models.ollama_url") == "http://other:1"
    env["DMC_MODELS__OLLAMA_URL"] = "http://third:2"
    assert load(repo=repo, env=env).get("models.ollama_url") == "http://third:2"


def test_ollama_backend_without_a_server_goes_to_ollama_host(dmc) -> None:
    port = free_port()  # nothing listens there: the error names where dmc looked
    res = dmc("generate", "--local", "--backend", "ollama", "--model", "qwen2.5-coder",
              "write a function add(a, b)", env={"OLLAMA_HOST": f"127.0.0.1:{port}"})
    assert res.code == 3, res.stderr
    assert f"127.0.0.1:{port}" in res.doc["error"]["message"]


def test_doctor_checks_the_ollama_server_generate_would_use(dmc, make_repo) -> None:
    repo = make_repo({"a.py": ""})
    port = free_port()
    res = dmc("doctor", "--set", "generation.backend=ollama", cwd=repo,
              env={"OLLAMA_HOST": f"127.0.0.1:{port}"})
    gen = {c["name"]: c for c in res.doc["checks"]}["generation"]
    assert res.code == 3 and gen["ok"] is False
    assert f"127.0.0.1:{port}" in gen["detail"] and "ollama serve" in gen["fix"]


def test_a_named_model_the_embedded_backend_cannot_run_is_exit_3(dmc) -> None:
    res = dmc("generate", "--local", "--model", "qwen2.5-coder:7b", "write add(a, b)")
    assert res.code == 3
    assert "cannot run model 'qwen2.5-coder:7b'" in res.doc["error"]["message"]
    assert "embedded model" not in res.stderr  # nothing was swapped in


def test_a_named_server_that_is_down_is_exit_3_in_auto_mode(dmc) -> None:
    server = f"ollama:http://127.0.0.1:{free_port()}"
    res = dmc("generate", "--local", "--set", f"generation.server={server}",
              "write add(a, b)")
    assert res.code == 3
    assert "not usable" in res.doc["error"]["message"]
    assert "using the embedded model" not in res.stderr


def test_a_configured_server_that_is_down_falls_back_with_a_note() -> None:
    """Not named for this run (a config file set it): auto falls back to the embedded model
    and says so. The backend loads its model lazily, so nothing heavy happens here."""
    notes: list[str] = []
    backend = make_backend(kind="auto", server=f"ollama:http://127.0.0.1:{free_port()}",
                           model="qwen2.5-coder-0.5b", timeout=5, connect_timeout=1,
                           context_window=2048, notes=notes)
    assert isinstance(backend, LlamaCppBackend) and backend.model == "qwen2.5-coder-0.5b"
    assert any("not usable" in n and "using the embedded model" in n for n in notes)
