"""FAISS in process, as a :class:`~qa.store.base.VectorStore` of immutable segments.

Rows live in segments, each with its own ANN index. ``upsert`` collects new
rows into a pending segment, ``seal`` turns it into a searchable one, and
``delete`` only marks rows dead: segments never change in place, which is what
lets a build write one new document's rows and leave every other file alone.
Searches run over every segment and merge by score; filters (``where``) are
exact over the matching rows when few match, and oversample the ANN when
many do.
"""
from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import faiss
import numpy as np

from .ann import HNSW_EF_SEARCH, choose_ann, make_ann
from .base import FILTER_FIELDS, check_where

logger = logging.getLogger(__name__)

EXACT_FILTER_MAX = 20_000  # filtered rows scored exactly below this (~2 ms); above, the ANN oversamples


@dataclass
class Segment:
    name: str
    ids: np.ndarray  # int64, one per row
    vectors: np.ndarray  # (n, d) float32, L2-normalised
    ann: faiss.Index = field(repr=False)
    meta: dict[str, list[str]]  # field -> value per row (FILTER_FIELDS)
    kind: str = "flat"
    dead: np.ndarray = None  # bool per row

    def __post_init__(self):
        if self.dead is None:
            self.dead = np.zeros(len(self.ids), bool)
        self._by_value: dict[str, dict[str, np.ndarray]] = {}

    @property
    def live(self) -> int:
        return int(len(self.ids) - self.dead.sum())

    def rows_where(self, where: dict) -> np.ndarray:
        """Live rows whose metadata equals ``where`` on every field."""
        rows = np.flatnonzero(~self.dead)
        for key, value in where.items():
            if key not in self._by_value:
                by: dict[str, list[int]] = {}
                for r, v in enumerate(self.meta.get(key, [""] * len(self.ids))):
                    by.setdefault(str(v), []).append(r)
                self._by_value[key] = {v: np.array(r, np.int64) for v, r in by.items()}
            rows = np.intersect1d(rows, self._by_value[key].get(value, np.zeros(0, np.int64)),
                                  assume_unique=True)
        return rows

    def search(self, q: np.ndarray, k: int, where: dict) -> tuple[np.ndarray, np.ndarray]:
        """(local rows, scores) of the best ``k`` live rows matching ``where``."""
        if where:
            rows = self.rows_where(where)
            if len(rows) <= EXACT_FILTER_MAX:
                scores = self.vectors[rows] @ q
                top = np.argsort(-scores, kind="stable")[:k]
                return rows[top], scores[top]
        n = len(self.ids)
        want = min(n, k + int(self.dead.sum()))
        while True:
            scores, rows = self.ann.search(q[None, :], max(want, 1))
            keep = rows[0] >= 0
            rows, scores = rows[0][keep], scores[0][keep]
            ok = ~self.dead[rows]
            if where:
                for key, value in where.items():
                    column = self.meta.get(key, [""] * n)
                    ok &= np.array([str(column[r]) == value for r in rows], bool)
            if ok.sum() >= k or want >= n:
                return rows[ok][:k], scores[ok][:k]
            want = min(n, want * 4)


class FaissStore:
    """Segments of (stable id, vector, metadata) rows; see the module docstring."""

    def __init__(self, dim: int, kind: str = "auto", *, flat_max: int | None = None,
                 hnsw_m: int | None = None, ef_search: int = HNSW_EF_SEARCH):
        self.dim = int(dim)
        self.kind = kind
        self.ann_options = {k: v for k, v in {"hnsw_m": hnsw_m, "ef_search": ef_search}.items() if v}
        self.flat_max = flat_max
        self.segments: list[Segment] = []
        self._pending: list[tuple[np.ndarray, np.ndarray, list[dict]]] = []
        self._where: dict[int, tuple[Segment, int]] = {}

    # ---- the protocol ------------------------------------------------------

    def upsert(self, ids, vectors, metadata: list[dict]) -> None:
        ids = np.asarray(ids, np.int64)
        vectors = np.asarray(vectors, np.float32).reshape(len(ids), self.dim)
        if len(metadata) != len(ids) or len(set(ids.tolist())) != len(ids):
            raise ValueError("upsert needs one metadata dict per id, and distinct ids")
        self.delete(ids)
        self._pending.append((ids, vectors, list(metadata)))

    def delete(self, ids: Iterable[int]) -> None:
        drop = {int(i) for i in ids}
        for i in drop:
            hit = self._where.pop(i, None)
            if hit is not None:
                hit[0].dead[hit[1]] = True
        if drop and self._pending:
            self._pending = [(i[keep], v[keep], [m for m, k in zip(meta, keep) if k])
                             for i, v, meta in self._pending
                             for keep in [np.array([int(x) not in drop for x in i], bool)]]

    def search(self, vector, k: int, where: dict | None = None) -> tuple[np.ndarray, np.ndarray]:
        where = check_where(where)
        q = np.ascontiguousarray(np.asarray(vector, np.float32).reshape(self.dim))
        found_ids, found_scores = [], []
        for seg in self.segments:
            if seg.live:
                rows, scores = seg.search(q, k, where)
                found_ids.append(seg.ids[rows])
                found_scores.append(scores)
        if not found_ids:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        ids, scores = np.concatenate(found_ids), np.concatenate(found_scores)
        top = np.argsort(-scores, kind="stable")[:k]
        return ids[top], scores[top].astype(np.float32)

    def get_vectors(self, ids) -> np.ndarray:
        out = np.zeros((len(ids), self.dim), np.float32)
        for r, i in enumerate(np.asarray(ids, np.int64).tolist()):
            seg, row = self._where[i]  # KeyError: no such live id
            out[r] = seg.vectors[row]
        return out

    def count(self) -> int:
        return len(self._where)

    # ---- segments ------------------------------------------------------------

    def seal(self) -> Segment | None:
        """The pending rows as a new searchable segment (None when nothing is pending)."""
        pending, self._pending = [p for p in self._pending if len(p[0])], []
        if not pending:
            return None
        ids = np.concatenate([p[0] for p in pending])
        vectors = np.vstack([p[1] for p in pending])
        rows = [m for p in pending for m in p[2]]
        meta = {key: [str(m.get(key, "")) for m in rows] for key in FILTER_FIELDS}
        kind = choose_ann(len(ids), self.kind, **({"flat_max": self.flat_max} if self.flat_max else {}))
        seg = Segment(new_segment_name(), ids, vectors, make_ann(vectors, kind, **self.ann_options), meta, kind)
        self.add_segment(seg)
        return seg

    def add_segment(self, seg: Segment) -> None:
        self.segments.append(seg)
        for row, i in enumerate(seg.ids.tolist()):
            if not seg.dead[row]:
                self._where[i] = (seg, row)

    def drop_segment(self, seg: Segment) -> None:
        self.segments.remove(seg)
        for i in seg.ids.tolist():
            if self._where.get(i, (None,))[0] is seg:
                del self._where[i]

    def merge(self, segs: list[Segment]) -> Segment:
        """One segment holding the live rows of ``segs``, which leave the store."""
        keep = [np.flatnonzero(~s.dead) for s in segs]
        ids = np.concatenate([s.ids[r] for s, r in zip(segs, keep)])
        meta = {key: [s.meta[key][j] for s, r in zip(segs, keep) for j in r] for key in FILTER_FIELDS}
        vectors = np.vstack([s.vectors[r] for s, r in zip(segs, keep)]) if ids.size else \
            np.zeros((0, self.dim), np.float32)
        for s in segs:
            self.drop_segment(s)
        self._pending.append((ids, vectors, [{k: meta[k][j] for k in FILTER_FIELDS} for j in range(len(ids))]))
        return self.seal()


def new_segment_name() -> str:
    return f"seg-{uuid.uuid4().hex[:12]}"


def save_segment(seg: Segment, path: Path) -> None:
    """Write ``seg``'s vector files into the new directory ``path`` (dead rows are the
    generation's business, not the segment's: the files never change)."""
    path.mkdir(parents=True)
    np.save(path / "ids.npy", seg.ids)
    np.save(path / "vectors.npy", np.ascontiguousarray(seg.vectors, dtype=np.float32))
    faiss.write_index(seg.ann, str(path / "ann.faiss"))
    (path / "meta.json").write_text(json.dumps({"kind": seg.kind, **seg.meta}, ensure_ascii=False),
                                    encoding="utf-8")


def load_segment(path: Path, dead_ids=(), ef_search: int | None = None) -> Segment:
    ids = np.load(path / "ids.npy")
    vectors = np.load(path / "vectors.npy")
    ann = faiss.read_index(str(path / "ann.faiss"))
    meta = json.loads((path / "meta.json").read_text(encoding="utf-8"))
    kind = meta.pop("kind", "flat")
    if not (len(ids) == len(vectors) == ann.ntotal) or any(len(v) != len(ids) for v in meta.values()):
        raise ValueError(f"segment {path.name} is inconsistent")
    if kind == "hnsw" and ef_search:
        faiss.downcast_index(ann).hnsw.efSearch = int(ef_search)
    dead = np.isin(ids, np.asarray(list(dead_ids), np.int64))
    return Segment(path.name, ids, vectors, ann, meta, kind, dead)
