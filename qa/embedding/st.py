"""The reference encoder: sentence-transformers on torch over the converted folder.

Used to export the ONNX graph and to check it (``QA_ENCODER=st`` selects it for
serving too). Importing this module imports neither; loading the model does.
"""
from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

import numpy as np

from .base import PASSAGE_PREFIX, QUERY_PREFIX, model_dim, model_fingerprint

logger = logging.getLogger(__name__)


class SentenceTransformerEncoder:
    name = "st"

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
        logger.info("loading sentence-transformers model from %s", path)
        return SentenceTransformer(str(path), device="cpu")

    def load(self) -> None:
        self.model

    def fingerprint(self) -> str:
        return model_fingerprint(self.model_dir)

    @property
    def dim(self) -> int:
        return model_dim(self.model_dir)

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
