"""The ANN factory (qa.store.ann.choose_ann / make_ann) on small synthetic data.

Fast and model-free: vectors are a seeded Gaussian mixture with a
low-dimensional spread (like text embeddings, unlike uniform noise), so every
index kind can be held to a recall figure against exact search.
"""
import faiss
import numpy as np
import pytest

from qa.chunking import Chunk
from qa.index import IndexSegment, IndexStore
from qa.store.faiss import FaissStore
from qa.store.texts import SegmentTexts
from qa.store.ann import (ANN_KINDS, AUTO_FLAT_MAX, HNSW_EF_SEARCH, SCALABLE_KIND, choose_ann,
                      ivf_params, make_ann)
from qa.settings import Settings

D = 384
# recall@10 against exact search on the data below; PQ codes are lossy by design
MIN_RECALL = {"flat": 1.0, "hnsw": 0.95, "ivf": 0.95, "ivf-hnsw": 0.95, "ivf-sq8": 0.95, "ivf-pq": 0.6}


def mixture(n: int, d: int = D, clusters: int = 20, latent: int = 16, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((clusters, d)).astype(np.float32)
    spread = rng.standard_normal((latent, d)).astype(np.float32) / np.sqrt(latent)
    x = centers[rng.integers(0, clusters, n)] + rng.standard_normal((n, latent)).astype(np.float32) @ spread
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Single-threaded faiss: on a busy 2-core box OpenMP spinning makes it 5x slower."""
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    yield
    faiss.omp_set_num_threads(before)


@pytest.fixture(scope="module")
def data():
    x = mixture(1050)
    base, queries = x[:1000], x[1000:]
    truth = np.argsort(-(queries @ base.T), axis=1)[:, :10]
    return base, queries, truth


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(set(f) & set(t)) / len(t) for f, t in zip(found, truth)]))


@pytest.mark.parametrize("kind", ANN_KINDS)
def test_each_kind_finds_the_true_neighbours(data, kind):
    base, queries, truth = data
    index = make_ann(base, kind)
    assert index.ntotal == len(base)
    scores, ids = index.search(queries, 10)
    assert recall(ids, truth) >= MIN_RECALL[kind]
    # a stored vector is its own best match
    _, self_ids = index.search(base[:100], 1)
    assert np.mean(self_ids[:, 0] == np.arange(100)) >= (0.9 if kind == "ivf-pq" else 1.0)
    if kind == "flat":  # exact: scores are the cosines
        np.testing.assert_allclose(scores, np.take_along_axis(queries @ base.T, truth, 1), atol=1e-5)


def test_auto_is_flat_while_small_then_the_scalable_kind():
    assert choose_ann(0) == "flat"
    assert choose_ann(85) == "flat"
    assert choose_ann(AUTO_FLAT_MAX) == "flat"
    assert choose_ann(AUTO_FLAT_MAX + 1) == SCALABLE_KIND == "hnsw"
    assert choose_ann(1_000_000) == "hnsw"
    assert choose_ann(500, "auto", flat_max=100) == "hnsw"
    s = Settings()
    assert choose_ann(100, s.index_type, s.auto_flat_max) == "flat"
    assert choose_ann(2_000_000, s.index_type, s.auto_flat_max) == "hnsw"


def test_explicit_kinds_pass_through_and_unknown_ones_fail_early():
    for kind in ANN_KINDS:
        assert choose_ann(10, kind) == kind
        assert choose_ann(10**7, kind.upper()) == kind
    with pytest.raises(ValueError, match="unknown index type"):
        choose_ann(10, "annoy")
    with pytest.raises(ValueError, match="unknown index type"):
        make_ann(np.zeros((3, D), np.float32), "lsh")


def test_make_ann_builds_what_auto_chose(data):
    base, _, _ = data
    small = make_ann(base, choose_ann(len(base), "auto", flat_max=len(base)))
    large = make_ann(base, choose_ann(len(base), "auto", flat_max=len(base) - 1))
    assert isinstance(faiss.downcast_index(small), faiss.IndexFlatIP)
    hnsw = faiss.downcast_index(large)
    assert isinstance(hnsw, faiss.IndexHNSWFlat)
    assert hnsw.metric_type == faiss.METRIC_INNER_PRODUCT
    assert hnsw.hnsw.efSearch == HNSW_EF_SEARCH


def test_ivf_parameters_scale_with_the_corpus():
    assert ivf_params(5) == (1, 1)  # never more lists than k-means can train
    nlist, nprobe = ivf_params(1_000_000)
    assert nlist == 4000 and nprobe == 500
    assert ivf_params(1_000_000, nlist=1024, nprobe=64) == (1024, 64)
    assert ivf_params(1000, nlist=10_000)[0] == 1000 // 39


@pytest.mark.parametrize("kind", ANN_KINDS)
def test_empty_and_tiny_corpora_are_searchable(kind):
    empty = make_ann(np.zeros((0, D), np.float32), kind)
    assert empty.ntotal == 0
    _, ids = empty.search(mixture(2), 3)
    assert (ids == -1).all()
    tiny = mixture(5)
    _, ids = make_ann(tiny, kind).search(tiny, 1)
    assert ids[:, 0].tolist() == list(range(5))


@pytest.mark.parametrize("kind", ANN_KINDS)
def test_a_persisted_index_round_trips(data, tmp_path, kind):
    base, queries, _ = data
    index = make_ann(base, kind, ef_search=48, nprobe=8)
    path = str(tmp_path / "ann.faiss")
    faiss.write_index(index, path)
    loaded = faiss.read_index(path)
    assert loaded.ntotal == index.ntotal
    want, got = index.search(queries, 10), loaded.search(queries, 10)
    np.testing.assert_array_equal(got[1], want[1])
    np.testing.assert_allclose(got[0], want[0], rtol=1e-6)
    # search-time parameters travel with the index
    inner = faiss.downcast_index(loaded)
    if kind == "hnsw":
        assert inner.hnsw.efSearch == 48
    elif kind.startswith("ivf"):
        assert faiss.extract_index_ivf(loaded).nprobe == 8


def test_the_store_persists_the_automatically_chosen_kind(data, tmp_path):
    base, queries, _ = data
    vstore = FaissStore(D, "auto", flat_max=100, ef_search=80)
    ids = np.arange(1000, 1000 + len(base), dtype=np.int64)
    vstore.upsert(ids, base, [{"doc": "d.md"}] * len(base))
    seg = vstore.seal()
    assert seg.kind == "hnsw"
    chunks = [Chunk(doc="d.md", title="T", section="", text=f"chunk {i}", start=i, end=i + 1)
              for i in range(len(base))]
    texts = SegmentTexts({"d.md": ("sha", "x" * (len(base) + 1))}, ids.tolist(), chunks,
                         [["t"]] * len(base), [], {})
    store = IndexStore(tmp_path / "index")
    with store.lock:
        store.write({"ef_search": 80}, [IndexSegment(seg, texts, np.zeros((0, D), np.float32))], {})
    loaded = store.load()
    assert loaded is not None and loaded.manifest["segments"][0]["kind"] == "hnsw"
    inner = faiss.downcast_index(loaded.segments[0].vectors.ann)
    assert isinstance(inner, faiss.IndexHNSWFlat) and inner.hnsw.efSearch == 80
    np.testing.assert_array_equal(loaded.search(queries, 10)[1], seg.ann.search(queries, 10)[1])
