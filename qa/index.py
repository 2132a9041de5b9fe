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

import errno
import json
import logging
import os
import shutil
import time
import uuid
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import faiss
import numpy as np
from filelock import FileLock

from .schema import Chunk
from .fsutil import write_atomic

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
    # name -> JSON value or array saved beside the chunks (doc texts, bridge, sentence vectors)
    extras: dict = field(default_factory=dict, repr=False)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        k = min(k, len(self.chunks))
        if k == 0:
            return np.zeros((len(queries), 0), np.float32), np.zeros((len(queries), 0), np.int64)
        return self.ann.search(np.ascontiguousarray(queries, dtype=np.float32), k)


# ---- ANN backends ---------------------------------------------------------
#
# Measured with bench/bench.py on the 2-core box (shared), 384-d synthetic
# vectors calibrated on the corpus's e5 vectors, one query at a time:
# - exact search is memory bound, ~0.4-0.5 ms per 1k vectors: ~5 ms at 10k,
#   ~40 ms at 100k, ~140-400 ms at 1M, so past ~10k vectors it is no longer
#   small next to the ~40-50 ms query encoder;
# - HNSW (M=32) answers in 1-3 ms up to 1M vectors at efSearch 128, but its
#   recall at that scale depends on the graph: efConstruction 40 -> 120 lifts
#   recall@10 at 1M from 0.75 to 0.91 (efSearch 128) and it reaches 0.95 near
#   efSearch 400-512 (8-11 ms); the build is ~30 min at 1M on 2 cores;
# - IVF needs ~1/4 of the lists probed for recall@10 0.95 at 1M (65 ms flat,
#   37 ms SQ8); IVF-PQ codes cap recall@10 near 0.6-0.7.
# Hence: flat while small, then HNSW.

ANN_KINDS = ("flat", "hnsw", "ivf", "ivf-hnsw", "ivf-sq8", "ivf-pq")
SCALABLE_KIND = "hnsw"  # what "auto" switches to past ``flat_max``
AUTO_FLAT_MAX = 10_000  # exact search costs ~0.3-0.5 ms per 1k vectors per query here
HNSW_M = 32
# recall@10 on e5-like synthetic data (bench/bench.py), M=32: at 300k vectors efConstruction 40
# gives 0.90 / 0.95 at efSearch 64 / 128, efConstruction 120 gives 0.98 / 0.99 for a 2.2x
# longer build; at 1M efConstruction 40 collapses to 0.65 / 0.75.
HNSW_EF_SEARCH = 128
HNSW_EF_CONSTRUCTION = 120


def choose_ann(n: int, kind: str = "auto", flat_max: int = AUTO_FLAT_MAX) -> str:
    """The ANN kind for ``n`` vectors: ``kind`` itself unless it is "auto"."""
    kind = (kind or "auto").strip().lower()
    if kind == "auto":
        return "flat" if n <= flat_max else SCALABLE_KIND
    if kind not in ANN_KINDS:
        raise ValueError(f"unknown index type {kind!r} (auto, {', '.join(ANN_KINDS)})")
    return kind


def ivf_params(n: int, nlist: int | None = None, nprobe: int | None = None) -> tuple[int, int]:
    """(nlist, nprobe) for an IVF index over ``n`` vectors.

    ~4*sqrt(n) lists, but never fewer than 39 training points per list (faiss's
    minimum for k-means); by default probe 1/8 of the lists (at least 16),
    which is what text-embedding-like data needs for recall@10 ~0.95.
    """
    if nlist is None:
        nlist = int(4 * np.sqrt(max(n, 1)))
    nlist = max(1, min(int(nlist), max(1, n // 39)))
    if nprobe is None:
        nprobe = max(16, nlist // 8)
    return nlist, max(1, min(int(nprobe), nlist))


def make_ann(vectors: np.ndarray, kind: str, *, hnsw_m: int = HNSW_M,
             ef_search: int = HNSW_EF_SEARCH, ef_construction: int = HNSW_EF_CONSTRUCTION,
             nlist: int | None = None, nprobe: int | None = None, seed: int = 0) -> faiss.Index:
    """Build a FAISS index over normalised vectors; inner product == cosine.

    ``kind`` is one of ``ANN_KINDS``, or "auto" (resolved by :func:`choose_ann`
    with the default threshold). Search parameters (HNSW efSearch, IVF nprobe)
    are set on the index and travel with it through ``faiss.write_index``.
    """
    vectors = np.asarray(vectors, dtype=np.float32)
    if vectors.ndim != 2:
        raise ValueError(f"vectors must be a 2-d array, got shape {vectors.shape}")
    n, d = vectors.shape
    kind = choose_ann(n, kind)
    t0 = time.perf_counter()
    if kind == "flat" or (n == 0 and kind.startswith("ivf")):
        index = faiss.IndexFlatIP(d)  # an empty IVF index would be untrained and unsearchable
    elif kind == "hnsw":
        index = faiss.IndexHNSWFlat(d, int(hnsw_m), faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = int(ef_construction)
        index.hnsw.efSearch = int(ef_search)
    else:  # ivf, ivf-hnsw, ivf-sq8, ivf-pq
        nlist, nprobe = ivf_params(n, nlist, nprobe)
        # ivf-hnsw: the coarse quantizer is itself an HNSW graph over the centroids
        # (faiss's IVF4096_HNSW32,Flat), so probing thousands of lists stays cheap
        quantizer = faiss.IndexHNSWFlat(d, 32, faiss.METRIC_INNER_PRODUCT) if kind == "ivf-hnsw" \
            else faiss.IndexFlatIP(d)
        if kind in ("ivf", "ivf-hnsw"):
            index = faiss.IndexIVFFlat(quantizer, d, nlist, faiss.METRIC_INNER_PRODUCT)
        elif kind == "ivf-sq8":
            index = faiss.IndexIVFScalarQuantizer(quantizer, d, nlist, faiss.ScalarQuantizer.QT_8bit,
                                                  faiss.METRIC_INNER_PRODUCT)
        else:
            # 8 dims per sub-quantizer; 256 centroids each once there are enough
            # points to train them (faiss wants ~39 per centroid), fewer before
            m = d // 8 if d % 8 == 0 else next(m for m in range(min(d, 48), 0, -1) if d % m == 0)
            nbits = int(np.clip(np.log2(max(n, 2) / 39), 1, 8))
            index = faiss.IndexIVFPQ(quantizer, d, nlist, m, nbits, faiss.METRIC_INNER_PRODUCT)
        index.cp.seed = seed
        if kind == "ivf-hnsw":  # k-means with exact assignment; the graph only serves searches
            index.clustering_index = faiss.IndexFlatIP(d)
        if n:
            # k-means needs no more than ~64 points per list; sampling keeps training fast
            take = min(n, max(64 * nlist, 39 * 256 if kind == "ivf-pq" else 0))
            sample = vectors if take == n else \
                vectors[np.sort(np.random.default_rng(seed).choice(n, take, replace=False))]
            index.train(np.ascontiguousarray(sample))
        index.nprobe = nprobe
        if kind == "ivf-hnsw":
            set_nprobe(index, nprobe)
    if n:
        index.add(np.ascontiguousarray(vectors))
    logger.debug("built %s ANN over %d vectors in %.2fs", kind, n, time.perf_counter() - t0)
    return index


def set_nprobe(index: faiss.Index, nprobe: int) -> None:
    """Probe ``nprobe`` lists; an HNSW quantizer then needs a beam at least twice as wide
    (measured: efSearch 16 caps recall@10 near .83 whatever nprobe is)."""
    ivf = faiss.extract_index_ivf(index)
    ivf.nprobe = int(nprobe)
    quantizer = faiss.downcast_index(ivf.quantizer)
    if isinstance(quantizer, faiss.IndexHNSW):
        quantizer.hnsw.efSearch = max(64, 2 * int(nprobe))


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
        except (OSError, UnicodeDecodeError):  # missing, unreadable or garbage: no live generation
            return None
        if not name.startswith("gen-") or any(ch in name for ch in "/\\\x00"):
            return None
        return name if (self.dir / name / "manifest.json").is_file() else None

    def manifest(self) -> dict | None:
        gen = self.current()
        if gen is None:
            return None
        try:
            data = json.loads((self.dir / gen / "manifest.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def load(self) -> StoredIndex | None:
        """The live generation; if the pointer is garbage or the generation is damaged,
        the newest other generation that is intact (logged); None when there is none."""
        gen = self.current()
        loaded = self._load_generation(gen) if gen else None
        if loaded is not None:
            return loaded
        for other in self.generations():
            if other != gen:
                loaded = self._load_generation(other)
                if loaded is not None:
                    logger.warning("index pointer %s; using the newest intact generation %s",
                                   f"names a damaged generation ({gen})" if gen else "is missing or garbage",
                                   other)
                    return loaded
        return None

    def generations(self) -> list[str]:
        """Complete generation directories, newest first (names start with their build time)."""
        if not self.dir.is_dir():
            return []
        return sorted((p.name for p in self.dir.iterdir()
                       if p.is_dir() and p.name.startswith("gen-") and (p / "manifest.json").is_file()),
                      reverse=True)

    def _load_generation(self, gen: str) -> StoredIndex | None:
        path = self.dir / gen
        try:
            manifest = json.loads((path / "manifest.json").read_text(encoding="utf-8"))
            if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_VERSION:
                return None
            for name, want in (manifest.get("checksums") or {}).items():
                if _crc32(path / name) != want:
                    raise ValueError(f"{name} does not match its checksum (damaged on disk)")
            with open(path / "chunks.jsonl", encoding="utf-8") as fh:
                chunks = [Chunk(**json.loads(line)) for line in fh]
            vectors = np.load(path / "vectors.npy")
            ann = faiss.read_index(str(path / "ann.faiss"))
            if ann.ntotal != len(chunks) or len(vectors) != len(chunks):
                raise ValueError("generation is inconsistent")
            extras = {name: _read_extra(path, name) for name in manifest.get("extras", [])}
        except (OSError, ValueError, RuntimeError, TypeError, EOFError, KeyError, AttributeError) as exc:
            logger.warning("index generation %s is unreadable (%s); it will be rebuilt", gen, exc)
            return None
        if manifest.get("ann") == "hnsw":
            faiss.downcast_index(ann).hnsw.efSearch = manifest.get("ef_search", HNSW_EF_SEARCH)
        return StoredIndex(gen, manifest, chunks, vectors, ann, extras)

    def write(self, manifest: dict, chunks: list[Chunk], vectors: np.ndarray, ann: faiss.Index,
              extras: dict | None = None) -> str:
        """Persist a new generation and make it live atomically. Caller holds ``lock``."""
        now = time.time_ns()  # to the microsecond, so names sort by build time (load's fallback)
        gen = f"gen-{time.strftime('%Y%m%d%H%M%S', time.gmtime(now // 10**9))}{now // 1000 % 10**6:06d}" \
              f"-{uuid.uuid4().hex[:6]}"
        tmp = self.dir / f".tmp-{gen}"
        moved = False
        try:
            tmp.mkdir(parents=True)
            extras = extras or {}
            manifest = {**manifest, "format": FORMAT_VERSION, "generation": gen, "n_chunks": len(chunks),
                        "extras": sorted(extras)}
            for name, value in extras.items():
                if isinstance(value, np.ndarray):
                    np.save(tmp / f"{name}.npy", value)
                else:
                    (tmp / f"{name}.json").write_text(json.dumps(value, ensure_ascii=False), encoding="utf-8")
            with open(tmp / "chunks.jsonl", "w", encoding="utf-8") as fh:
                for c in chunks:
                    fh.write(json.dumps(c.to_dict(), ensure_ascii=False) + "\n")
            np.save(tmp / "vectors.npy", np.ascontiguousarray(vectors, dtype=np.float32))
            faiss.write_index(ann, str(tmp / "ann.faiss"))
            # damage that keeps a file's shape (overwritten vectors, emptied tokens) is caught at load
            manifest["checksums"] = {p.name: _crc32(p) for p in sorted(tmp.iterdir())}
            # the manifest goes last: a generation without one is never loaded
            (tmp / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=1),
                                              encoding="utf-8")
            _fsync_dir_files(tmp)
            previous = self.current() or next(iter(self.generations()), None)
            os.replace(tmp, self.dir / gen)
            moved = True
            _atomic_write_text(self.dir / _POINTER, gen + "\n")
        except BaseException as exc:
            # nothing half-written stays behind; the live generation is untouched
            shutil.rmtree(tmp, ignore_errors=True)
            if moved and self.current() != gen:
                shutil.rmtree(self.dir / gen, ignore_errors=True)
            if _disk_full(exc):
                raise OSError(errno.ENOSPC, "the disk is full: the index could not be written and is "
                              "unchanged (free some space and build again)") from exc
            raise
        logger.info("index generation %s is live (%d chunks)", gen, len(chunks))
        # the previous generation stays one round for readers mid-load
        self.collect_garbage(keep={gen, previous or ""})
        return gen

    def collect_garbage(self, keep: set[str]) -> None:
        """Remove superseded generations and temp dirs left by crashed writers."""
        for p in self.dir.iterdir():
            if p.is_dir() and p.name not in keep and p.name.startswith(("gen-", ".tmp-gen-")):
                shutil.rmtree(p, ignore_errors=True)


def _crc32(path: Path) -> str:
    """CRC-32 of a file: ~1 GB/s, so checking a generation costs little next to reading it."""
    crc = 0
    with open(path, "rb") as fh:
        while block := fh.read(1 << 22):
            crc = zlib.crc32(block, crc)
    return f"{crc:08x}"


def _read_extra(path: Path, name: str):
    if (path / f"{name}.npy").is_file():
        return np.load(path / f"{name}.npy")
    return json.loads((path / f"{name}.json").read_text(encoding="utf-8"))


def _disk_full(exc: BaseException) -> bool:
    """An ENOSPC/EDQUOT OSError, or a faiss RuntimeError about one (faiss wraps fwrite failures)."""
    if isinstance(exc, OSError):
        return exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC))
    return isinstance(exc, RuntimeError) and "No space left on device" in str(exc)


def _atomic_write_text(path: Path, text: str) -> None:
    write_atomic(path, text.encode("utf-8"))


def _fsync_dir_files(path: Path) -> None:
    for p in path.iterdir():
        with open(p, "rb") as fh:
            os.fsync(fh.fileno())
