"""The serving encoder: onnxruntime + ``tokenizers``, no torch.

Texts are tokenised by the converted folder's ``tokenizer.json`` (the same ids
as sentence-transformers), sorted by length so a batch pads little, and run
through the exported graph (:mod:`qa.embedding.export`), which returns pooled,
normalised vectors.
"""
from __future__ import annotations

import logging
import threading
from pathlib import Path

import numpy as np

from .base import PASSAGE_PREFIX, QUERY_PREFIX, model_dim, model_fingerprint
from .export import ensure_onnx
from .session import OnnxSession

logger = logging.getLogger(__name__)


class OnnxEncoder:
    name = "onnx"

    def __init__(self, model_dir: Path, batch_size: int = 32, threads: int = 0):
        self.model_dir = Path(model_dir)
        self.batch_size = batch_size
        self.threads = threads
        self._session: OnnxSession | None = None
        self._lock = threading.Lock()
        self._fingerprint: str | None = None
        self._dim: int | None = None

    @property
    def session(self) -> OnnxSession:
        if self._session is None:
            with self._lock:
                if self._session is None:
                    path = ensure_onnx(self.model_dir)
                    logger.info("loading ONNX encoder from %s", path)
                    self._session = OnnxSession(path, self.model_dir / "tokenizer.json", self.threads,
                                                self.batch_size)
        return self._session

    def load(self) -> None:
        self.session

    def fingerprint(self) -> str:
        if self._fingerprint is None:
            self._fingerprint = model_fingerprint(self.model_dir)
        return self._fingerprint

    @property
    def dim(self) -> int:
        if self._dim is None:
            self._dim = model_dim(self.model_dir)
        return self._dim

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        return self._encode([QUERY_PREFIX + t for t in texts], False)

    def encode_passages(self, texts: list[str], progress: bool = False) -> np.ndarray:
        return self._encode([PASSAGE_PREFIX + t for t in texts], progress)

    def _encode(self, texts: list[str], progress: bool) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return self.session.encode(texts, progress)
