"""The serving encoder: onnxruntime + ``tokenizers``, no torch.

Texts are tokenised by the converted folder's ``tokenizer.json`` (the same ids
as sentence-transformers), sorted by length so a batch pads little, and run
through the exported graph (:mod:`qa.embedding.export`), which returns pooled,
normalised vectors.
"""
from __future__ import annotations

import json
import logging
import threading
from pathlib import Path

import numpy as np

from .base import PASSAGE_PREFIX, QUERY_PREFIX, model_dim, model_fingerprint

logger = logging.getLogger(__name__)

MAX_TOKENS = 512


class OnnxSession:
    """One onnxruntime session and its tokenizer; thread-safe (``run`` is)."""

    def __init__(self, model: Path, tokenizer: Path, threads: int = 0, batch_size: int = 32):
        import onnxruntime as ort
        from tokenizers import Tokenizer

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = int(threads)  # 0: onnxruntime's default, one per core
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        self.session = ort.InferenceSession(str(model), opts, providers=["CPUExecutionProvider"])
        self.tokenizer = Tokenizer.from_file(str(tokenizer))
        self.tokenizer.enable_truncation(MAX_TOKENS)
        self.tokenizer.no_padding()
        self.pad_id = _pad_id(Path(tokenizer).parent)
        self.batch_size = batch_size

    def encode(self, texts: list[str], progress: bool = False) -> np.ndarray:
        encs = self.tokenizer.encode_batch(texts, add_special_tokens=True)
        order = np.argsort([len(e.ids) for e in encs], kind="stable")
        out = np.zeros((len(texts), 0), np.float32)
        starts = range(0, len(texts), self.batch_size)
        if progress:
            from tqdm.auto import tqdm

            starts = tqdm(starts, desc="embedding", unit="batch")
        for a in starts:
            rows = order[a:a + self.batch_size]
            width = max(len(encs[i].ids) for i in rows)
            ids = np.full((len(rows), width), self.pad_id, np.int64)
            mask = np.zeros((len(rows), width), np.int64)
            for j, i in enumerate(rows):
                n = len(encs[i].ids)
                ids[j, :n] = encs[i].ids
                mask[j, :n] = 1
            vecs = self.session.run(None, {"input_ids": ids, "attention_mask": mask})[0]
            if out.shape[1] == 0:
                out = np.zeros((len(texts), vecs.shape[1]), np.float32)
            out[rows] = vecs
        return out


def _pad_id(model_dir: Path) -> int:
    cfg = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    return int(cfg.get("pad_token_id", 1))


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
                    from .export import ensure_onnx

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
