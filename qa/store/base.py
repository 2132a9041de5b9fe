"""The vector-store seam: what any backend (FAISS in process, Milvus) provides.

Rows are addressed by stable chunk ids (:func:`chunk_id`), never by position,
so a build can add or drop one document's rows and leave every other row as
it was. Metadata is a flat dict per row (doc, city, year); ``where`` filters
on it by equality, and every backend applies the same rule (:func:`matches`).
"""
from __future__ import annotations

import hashlib
from typing import Iterable, Protocol, runtime_checkable

import numpy as np

# the fields a caller may filter on; a backend may store more
FILTER_FIELDS = ("doc", "city", "year")


def chunk_id(doc: str, doc_sha: str, start: int, end: int) -> int:
    """A stable id for a chunk: the same document (name and bytes) and offsets give the
    same id in every build and every backend (63 bits, so it fits a signed int64). The
    name is part of it because two corpus files may hold the same bytes."""
    h = hashlib.blake2b(f"{doc}\0{doc_sha}:{start}:{end}".encode(), digest_size=8).digest()
    return int.from_bytes(h, "big") >> 1


def check_where(where: dict | None) -> dict:
    """``where`` as a clean dict, or ``ValueError`` naming what is wrong."""
    if where is None:
        return {}
    if not isinstance(where, dict):
        raise ValueError("where must be a mapping such as {'doc': 'report.md'}")
    out = {}
    for key, value in where.items():
        if key not in FILTER_FIELDS:
            raise ValueError(f"cannot filter on {key!r} (fields: {', '.join(FILTER_FIELDS)})")
        if value is None or value == "":
            continue
        if not isinstance(value, (str, int)) or isinstance(value, bool):
            raise ValueError(f"filter {key!r} must be text or a whole number")
        out[key] = str(value)
    return out


def matches(meta: dict, where: dict) -> bool:
    """Equality on every filtered field (compared as text: year 2021 == "2021")."""
    return all(str(meta.get(key, "")) == value for key, value in where.items())


@runtime_checkable
class VectorStore(Protocol):
    """Dense rows by stable id. ``search`` returns (ids, cosine scores), best first."""

    def upsert(self, ids: np.ndarray, vectors: np.ndarray, metadata: list[dict]) -> None: ...

    def delete(self, ids: Iterable[int]) -> None: ...

    def search(self, vector: np.ndarray, k: int, where: dict | None = None) -> tuple[np.ndarray, np.ndarray]: ...

    def get_vectors(self, ids: np.ndarray) -> np.ndarray: ...

    def count(self) -> int: ...
