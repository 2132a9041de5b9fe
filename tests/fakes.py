"""Test doubles that keep the real pipeline but skip the 470 MB model."""
from __future__ import annotations

import zlib

import numpy as np


class HashEncoder:
    """Deterministic vectors from hashed character bigrams: texts that share characters
    are close, which is all the index, fusion and crash-safety tests need."""
    name = "fake"
    dim = 384

    def fingerprint(self) -> str:
        return "fake-hash-bigrams-1"

    def load(self) -> None:
        pass

    def _encode(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), np.float32)
        for row, text in enumerate(texts):
            grams = [text[i:i + 2] for i in range(max(len(text) - 1, 1))]
            for g in grams:
                out[row, zlib.crc32(g.encode("utf-8")) % self.dim] += 1.0
            out[row, 0] += 1e-3  # never the zero vector
        return out / np.linalg.norm(out, axis=1, keepdims=True)

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        return self._encode(list(texts))

    def encode_passages(self, texts: list[str], progress: bool = False) -> np.ndarray:
        return self._encode(list(texts))


class Counting:
    """Wraps an encoder and counts the passages it embeds (what a build re-embeds)."""

    def __init__(self, inner):
        self.inner, self.passages = inner, 0

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def encode_passages(self, texts, progress=False):
        self.passages += len(texts)
        return self.inner.encode_passages(texts, progress)
