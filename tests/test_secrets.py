"""Secret redaction in ``dmc optimize``: detect-secrets as the detector, dmc's rules on top.

The fake secrets have the real formats but are assembled here at run time from pieces and a
seeded random generator, so no secret-looking literal sits in the repository (push
protection scanners would rightly refuse it) and none is a real credential.
"""

from __future__ import annotations

import base64
import random
import string
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from dmc.optimize import Options, optimize
from dmc.optimize.secrets import redact
from dmc.tokens import byte_bound

ALNUM = string.ascii_letters + string.digits
UPPER = string.ascii_uppercase + string.digits


def _fakes(seed: int = 13) -> dict[str, tuple[str, str]]:
    """kind -> (the secret, a line of code holding it as people write it)."""
    rnd = random.Random(seed)

    def pick(chars: str, n: int) -> str:
        return "".join(rnd.choice(chars) for _ in range(n))

    def b64(n: int) -> str:
        return base64.b64encode(bytes(rnd.randrange(256) for _ in range(n))).decode()

    def b64url(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    sendgrid = "SG" + "." + pick(ALNUM + "-_", 22) + "." + pick(ALNUM + "-_", 43)
    pypi = "py" + "pi-" + "AgEIcHlwaS5vcmc" + pick(ALNUM + "-_", 70)
    azure_key = b64(64)
    azure = ("DefaultEndpointsProtocol=https;AccountName=acme;" + "Account" + "Key=" +
             azure_key + ";EndpointSuffix=core.windows.net")
    slack = ("https://" + "hooks.slack.com/services/" + "T" + pick(UPPER, 8) + "/B" +
             pick(UPPER, 8) + "/" + pick(ALNUM, 24))
    entropy = pick(ALNUM + "+/", 44)
    aws = "AK" + "IA" + pick(UPPER, 16)
    github = "gh" + "p_" + pick(ALNUM, 36)
    key_body = b64(96)
    private_key = ("-----BEGIN " + "RSA PRIVATE" + " KEY-----\n" + key_body +
                   "\n-----END " + "RSA PRIVATE" + " KEY-----")
    jwt = (b64url(b'{"alg":"HS256","typ":"JWT"}') + "." +
           b64url(b'{"sub":"1234567890","name":"Jo","iat":1516239022}') + "." +
           pick(ALNUM + "-_", 43))
    stripe = "sk" + "_live_" + pick(ALNUM, 24)
    google = "AI" + "za" + pick(ALNUM + "-_", 35)
    return {
        "sendgrid": (sendgrid, f'SENDGRID = "{sendgrid}"'),
        "pypi": (pypi, f'upload_with = "{pypi}"'),
        "azure": (azure_key, f'STORAGE = "{azure}"'),
        "slack_webhook": (slack, f'notify_url = "{slack}"'),
        "high_entropy": (entropy, f'SALT = "{entropy}"'),
        "aws": (aws, f'AWS_ID = "{aws}"'),
        "github": (github, f'client = Github("{github}")'),
        "private_key": (key_body, f'PEM = """{private_key}"""'),
        "jwt": (jwt, f'headers = {{"Authorization": "Bearer {jwt}"}}'),
        "stripe": (stripe, f'stripe.api_base_key = "{stripe}"'),
        "google": (google, f'MAPS = "{google}"'),
    }


FAKES = _fakes()


@pytest.mark.parametrize("kind", sorted(FAKES))
def test_each_kind_is_redacted(kind: str) -> None:
    secret, line = FAKES[kind]
    text = f'"""Settings."""\nimport os\n\n{line}\nDEBUG = os.environ.get("DEBUG")\n'
    out, found = redact("app/settings.py", text)
    assert secret not in out
    assert found, f"{kind} not found"
    assert all(r.path == "app/settings.py" for r in found)
    assert "<redacted:" in out and 'DEBUG = os.environ.get("DEBUG")' in out  # code kept


def test_all_kinds_in_one_payload_leave_no_secret(tmp_path: Path) -> None:
    body = "\n".join(line for _, line in FAKES.values()) + "\n"
    chunks = [{"path": "app/config.py", "start_line": 1, "end_line": body.count("\n"),
               "text": body, "score": 0.9, "language": "python"}]
    doc = {"dmc": 1, "input": {"text": "add retries to the uploader"},
           "intent": {"task_type": "feature_implementation", "complexity": "low",
                      "domain": "backend", "confidence": 0.9},
           "extraction": {"languages": ["python"]}, "context": {"chunks": chunks}}
    out, notes = optimize(doc, Options(), byte_bound)
    blob = orjson.dumps(out["payload"]).decode()
    for kind, (secret, _) in FAKES.items():
        assert secret not in blob, kind
    redactions = out["payload"]["metrics"]["redactions"]
    assert len({r["line"] for r in redactions}) >= len(FAKES) - 1  # the key block spans 3
    kinds = {r["kind"] for r in redactions}
    # detect-secrets names the providers it knows; dmc's rules name theirs
    assert {"sendgrid_api_key", "pypi_token", "azure_storage_account_access_key",
            "slack_token", "base64_high_entropy_string", "jwt"} <= kinds
    assert {"aws_access_key", "github_token", "private_key", "stripe_key",
            "google_api_key"} <= kinds
    assert any("redacted" in n for n in notes)


def test_the_cli_payload_carries_no_secret(dmc, make_repo) -> None:
    body = "\n".join(line for _, line in FAKES.values()) + "\n"
    repo = make_repo({"app/config.py": body})
    doc = {"dmc": 1, "input": {"text": "change app/config.py to read the uploader settings"},
           "context": {"chunks": [{"path": "app/config.py", "start_line": 1,
                                   "end_line": body.count("\n"), "text": body, "score": 0.9,
                                   "language": "python"}]}}
    res = dmc("optimize", stdin=orjson.dumps(doc), cwd=repo)
    assert res.code == 0, res.stderr
    payload = orjson.dumps(res.doc["payload"])  # what goes to the desktop
    for kind, (secret, _) in FAKES.items():
        assert secret.encode() not in payload, kind
    assert len(res.doc["payload"]["metrics"]["redactions"]) >= len(FAKES)


def test_ordinary_code_is_left_alone() -> None:
    text = ('"""Client."""\nimport hashlib\n\nMAX_TOKENS = 2048\ntoken = os.environ["TOKEN"]\n'
            'api_key = "your-api-key-here"\nURL = "https://example.com/api/v1/items"\n'
            'def checksum(data: bytes) -> str:\n    return hashlib.sha256(data).hexdigest()\n')
    assert redact("client.py", text) == (text, [])


def test_detect_secrets_is_imported_only_when_needed() -> None:
    code = ("import sys\nfrom dmc.optimize.secrets import redact\n"
            "redact('a.py', 'def f(x):\\n    return x + 1\\n')\n"
            "assert 'detect_secrets' not in sys.modules, 'imported for plain code'\n"
            "redact('a.py', 'KEY = \"' + 'AK' + 'IA' + 'Q7' * 8 + '\"\\n')\n"
            "assert 'detect_secrets' in sys.modules\n"
            "import dmc.commands.main\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    start = subprocess.run([sys.executable, "-c", "import sys; import dmc.commands.main; "
                            "import dmc.optimize; assert 'detect_secrets' not in sys.modules"],
                           capture_output=True, text=True)
    assert start.returncode == 0, start.stderr
