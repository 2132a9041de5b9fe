"""Index stage: chunks + vectors persisted under ``index/``, crash-safe.

Layout::

    index/CURRENT          name of the live generation (replaced atomically)
    index/gen-<id>/        manifest.json, chunks.jsonl, vectors.npy, ann.faiss
    index/.lock            serialises writers

A writer builds a complete new generation directory, fsyncs it, then swaps
``CURRENT`` with ``os.replace``. A crash at any point leaves ``CURRENT``
naming the previous complete generation, and readers never see a half-written
one (copy-on-write), so queries keep working while documents are added.
"""
from __future__ import annotations

import json
import logging
import os
import shutil
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import faiss
import numpy as np
from filelock import FileLock

from .chunking import Chunk

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
_POINTER = "CURRENT"


@dataclass
class StoredIndex:
    """One loaded generation: what retrieval searches."""
    generation: str
    manifest: dict
    chunks: list[Chunk]
    vectors: np.ndarray  # (n, d) float32, L2-normalised
    ann: faiss.Index = field(repr=False)
    extras: dict = field(default_factory=dict, repr=False)  # name -> JSON value (doc texts, bridge)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        k = min(k, len(self.chunks))
        if k == 0:
            return np.zeros((len(queries), 0), np.float32), np.zeros((len(queries), 0), np.int64)
        return self.ann.search(np.ascontiguousarray(queries, dtype=np.float32), k)


# ---- ANN backends ---------------------------------------------------------

def choose_ann(n: int, kind: str = "auto", flat_max: int = 50_000) -> str:
    if kind != "auto":
        return kind
    return "flat" if n <= flat_max else "hnsw"


def make_ann(vectors: np.ndarray, kind: str, *, hnsw_m: int = 32, ef_search: int = 64,
             ef_construction: int = 80, nlist: int | None = None, nprobe: int = 16) -> faiss.Index:
    """Build a FAISS index over normalised vectors; inner product == cosine."""
    n, d = vectors.shape if vectors.size else (0, vectors.shape[1] if vectors.ndim == 2 else 384)
    if kind == "flat":
        index = faiss.IndexFlatIP(d)
    elif kind == "hnsw":
        index = faiss.IndexHNSWFlat(d, hnsw_m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = ef_construction
        index.hnsw.efSearch = ef_search
    elif kind in ("ivf", "ivf-sq8", "ivf-pq"):
        nlist = nlist or max(1, int(4 * np.sqrt(max(n, 1))))
        quantizer = faiss.IndexFlatIP(d)
        if kind == "ivf":
            index = faiss.IndexIVFFlat(quantizer, d, nlist, faiss.METRIC_INNER_PRODUCT)
        elif kind == "ivf-sq8":
            index = faiss.IndexIVFScalarQuantizer(quantizer, d, nlist, faiss.ScalarQuantizer.QT_8bit,
                                                  faiss.METRIC_INNER_PRODUCT)
        else:
            index = faiss.IndexIVFPQ(quantizer, d, nlist, 48, 8, faiss.METRIC_INNER_PRODUCT)
        if n:
            sample = vectors[np.random.default_rng(0).choice(n, min(n, 64 * nlist), replace=False)]
            index.train(sample)
        index.nprobe = nprobe
        index.quantizer_trains_alone = 0
        index._keep = quantizer  # keep the Python wrapper alive with the index
    else:
        raise ValueError(f"unknown index type {kind!r} (flat, hnsw, ivf, ivf-sq8, ivf-pq)")
    if n:
        index.add(np.ascontiguousarray(vectors, dtype=np.float32))
    return index


# ---- the store --------------------------------------------------------------

class IndexStore:
    def __init__(self, index_dir: Path):
        self.dir = Path(index_dir)

    @property
    def lock(self) -> FileLock:
        self.dir.mkdir(parents=True, exist_ok=True)
        return FileLock(str(self.dir / ".lock"))

    def current(self) -> str | None:
        try:
            name = (self.dir / _POINTER).read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            return None
        return name if name and (self.dir / name / "manifest.json").is_file() else None

    def manifest(self) -> dict | None:
        gen = self.current()
        if gen is None:
            return None
        try:
            return json.loads((self.dir / gen / "manifest.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    def load(self) -> StoredIndex | None:
        """The live generation, or None if there is none or it is unreadable."""
        gen = self.current()
        if gen is None:
            return None
        path = self.dir / gen
        try:
            manifest = json.loads((path / "manifest.json").read_text(encoding="utf-8"))
            if manifest.get("format") != FORMAT_VERSION:
                return None
            with open(path / "chunks.jsonl", encoding="utf-8") as fh:
                chunks = [Chunk(**json.loads(line)) for line in fh]
            vectors = np.load(path / "vectors.npy")
            ann = faiss.read_index(str(path / "ann.faiss"))
            if ann.ntotal != len(chunks) or len(vectors) != len(chunks):
                raise ValueError("generation is inconsistent")
            extras = {name: json.loads((path / f"{name}.json").read_text(encoding="utf-8"))
                      for name in manifest.get("extras", [])}
        except (OSError, ValueError, RuntimeError, TypeError) as exc:
            logger.warning("index generation %s is unreadable (%s); it will be rebuilt", gen, exc)
            return None
        if "hnsw" in manifest.get("ann", ""):
            faiss.downcast_index(ann).hnsw.efSearch = manifest.get("ef_search", 64)
        return StoredIndex(gen, manifest, chunks, vectors, ann, extras)

    def write(self, manifest: dict, chunks: list[Chunk], vectors: np.ndarray, ann: faiss.Index,
              extras: dict | None = None) -> str:
        """Persist a new generation and make it live atomically. Caller holds ``lock``."""
        gen = f"gen-{time.strftime('%Y%m%d%H%M%S')}-{uuid.uuid4().hex[:6]}"
        tmp = self.dir / f".tmp-{gen}"
        tmp.mkdir(parents=True)
        extras = extras or {}
        manifest = {**manifest, "format": FORMAT_VERSION, "generation": gen, "n_chunks": len(chunks),
                    "extras": sorted(extras)}
        for name, value in extras.items():
            (tmp / f"{name}.json").write_text(json.dumps(value, ensure_ascii=False), encoding="utf-8")
        with open(tmp / "chunks.jsonl", "w", encoding="utf-8") as fh:
            for c in chunks:
                fh.write(json.dumps(c.to_dict(), ensure_ascii=False) + "\n")
        np.save(tmp / "vectors.npy", np.ascontiguousarray(vectors, dtype=np.float32))
        faiss.write_index(ann, str(tmp / "ann.faiss"))
        # the manifest goes last: a generation without one is never loaded
        (tmp / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=1),
                                          encoding="utf-8")
        _fsync_dir_files(tmp)
        previous = self.current()
        os.replace(tmp, self.dir / gen)
        _atomic_write_text(self.dir / _POINTER, gen + "\n")
        logger.info("index generation %s is live (%d chunks)", gen, len(chunks))
        # the previous generation stays one round for readers mid-load
        self.collect_garbage(keep={gen, previous or ""})
        return gen

    def collect_garbage(self, keep: set[str]) -> None:
        """Remove superseded generations and temp dirs left by crashed writers."""
        for p in self.dir.iterdir():
            if p.is_dir() and p.name not in keep and p.name.startswith(("gen-", ".tmp-gen-")):
                shutil.rmtree(p, ignore_errors=True)


def _atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:6]}.tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _fsync_dir_files(path: Path) -> None:
    for p in path.iterdir():
        with open(p, "rb") as fh:
            os.fsync(fh.fileno())
