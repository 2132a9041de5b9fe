"""What every encoder shares: the protocol, e5's prefixes, and the model's identity.

Kept free of torch, onnxruntime and sentence-transformers so that the query path
imports only what its own encoder needs.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

# e5 was trained with these prefixes; both encoders add them
QUERY_PREFIX = "query: "
PASSAGE_PREFIX = "passage: "


@runtime_checkable
class Encoder(Protocol):
    """Text -> L2-normalised float32 vectors, queries and passages apart."""
    name: str

    def encode_queries(self, texts: list[str]) -> np.ndarray: ...

    def encode_passages(self, texts: list[str], progress: bool = False) -> np.ndarray: ...

    @property
    def dim(self) -> int: ...

    def fingerprint(self) -> str:
        """Identifies the weights: an index built from other weights is rebuilt."""
        ...

    def load(self) -> None:
        """Load now rather than on the first text."""
        ...


def _converted(model_dir: Path) -> Path:
    # imported here: `make model` runs convert with `python -m`, and importing it with the
    # package first would make runpy warn about a module executed twice
    from .convert import ensure_model

    return ensure_model(Path(model_dir))


def model_fingerprint(model_dir: Path) -> str:
    """The source hash the conversion wrote into its marker: read, never re-hashed.

    Both encoders share it: they run the same 4-bit weights and agree to cosine
    >= .999 (tests/test_encoders.py), so switching encoder does not rebuild the index.
    """
    from .convert import MARKER

    info = json.loads((_converted(model_dir) / MARKER).read_text(encoding="utf-8"))
    return f"e5-small-q4:{info['source_sha256']}"


def model_dim(model_dir: Path) -> int:
    cfg = json.loads((_converted(model_dir) / "config.json").read_text(encoding="utf-8"))
    return int(cfg["hidden_size"])
