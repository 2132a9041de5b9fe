"""ANN factory: a FAISS index of a chosen kind over normalised vectors (inner product == cosine).

Kinds are chosen by name, as txtai's ``ann/`` factory does; the choice and its
parameters travel with the index through ``faiss.write_index``.
"""
from __future__ import annotations

import logging
import time

import faiss
import numpy as np

logger = logging.getLogger(__name__)

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
