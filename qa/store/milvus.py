"""Milvus as a :class:`~qa.store.base.VectorStore`: the scale-out backend.

One collection row per chunk, keyed by the same stable id as the FAISS store
(:func:`~qa.store.base.chunk_id`), holding the chunk's offsets and headings,
its text (jieba-analysed, so Milvus computes BM25 itself through a ``Function``)
and its dense vector (COSINE, HNSW). ``uri`` is a local ``*.db`` path (Milvus
Lite, in process: tests, laptops) or an ``http(s)://`` server; the code is the
same for both.

Readers and writers address an *alias*, never a physical collection, so
:meth:`MilvusStore.rebuild` can fill a fresh collection and swap the alias to it
in one step: a reader sees the old corpus or the new one, never half of either.
Filters are built from ``where`` with every value escaped (:func:`milvus_filter`).
"""
from __future__ import annotations

import importlib.util
import logging
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np
from tqdm import tqdm

from ..errors import QAError
from .ann import HNSW_EF_CONSTRUCTION, HNSW_EF_SEARCH, HNSW_M
from .base import check_where

logger = logging.getLogger(__name__)

INSTALL_HINT = "pip install -e '.[milvus]'"
BATCH = 1000  # rows per write / id lookup: bounded memory, and filter strings stay short
# VARCHAR limits are bytes of UTF-8 (a Chinese character is 3); a chunk is a few hundred characters
TEXT_FIELDS = {"doc": 1024, "title": 1024, "section": 2048, "city": 256, "year": 32, "text": 65535}
INT_FIELDS = ("start", "end")
ROW_FIELDS = ("doc", "start", "end", "title", "section", "city", "year", "text")
ANALYZER = {"tokenizer": "jieba"}  # Milvus Lite rejects {"type": "chinese"}; jieba is what both accept
_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}


class BackendMissing(QAError, ImportError):
    """An optional store backend was asked for but its packages are not installed."""


def _pymilvus():
    try:
        import pymilvus
    except ImportError as exc:
        raise BackendMissing(f"the Milvus store needs pymilvus: {INSTALL_HINT}") from exc
    return pymilvus


def quote(value: str) -> str:
    """``value`` as a double-quoted Milvus string literal. Only the escapes that both the
    server's grammar and Milvus Lite's parser know are used; other control characters
    are refused rather than passed through."""
    out = []
    for ch in str(value):
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif ord(ch) < 0x20 or ch == "\x7f":
            raise ValueError(f"cannot filter on a value with control character {ch!r}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def milvus_filter(where: dict | None) -> str:
    """``where`` (the :func:`~qa.store.base.check_where` rules: equality, compared as
    text) as a Milvus boolean expression; "" for no filter."""
    return " and ".join(f"{key} == {quote(value)}" for key, value in check_where(where).items())


def chunk_row(chunk, year="") -> dict:
    """The metadata dict :meth:`MilvusStore.upsert` stores for a :class:`qa.schema.Chunk`."""
    return {"doc": chunk.doc, "start": chunk.start, "end": chunk.end, "title": chunk.title,
            "section": chunk.section, "city": chunk.city, "year": year, "text": chunk.text}


class MilvusStore:
    """Chunks in a Milvus collection behind the alias ``collection``; see the module docstring.

    Not safe for two concurrent writers (the same rule as the FAISS index's lock);
    any number of readers is fine."""

    def __init__(self, uri: str, *, dim: int, collection: str = "qa_chunks", token: str | None = None,
                 batch_size: int = BATCH, progress: bool = False, ef_search: int = HNSW_EF_SEARCH,
                 consistency: str = "Strong", shards: int = 1, _target: str | None = None, _client=None):
        self.uri, self.dim, self.collection = str(uri), int(dim), collection
        self.batch_size, self.progress, self.ef_search = max(1, int(batch_size)), progress, int(ef_search)
        self.consistency = consistency  # Strong: a search sees every write acknowledged before it
        self.shards = int(shards)  # fixed per collection; a rebuild is the moment to change it
        self.client = _client or self._connect(token)
        self._target = _target or self._open_alias()

    # ---- connection and schema ---------------------------------------------

    def _connect(self, token):
        pymilvus = _pymilvus()
        uri = self.uri
        if "://" not in uri:  # a local path: Milvus Lite, which pymilvus starts for a *.db path
            if not uri.endswith(".db"):
                raise ValueError(f"a local Milvus Lite uri must end in .db (got {uri!r})")
            if importlib.util.find_spec("milvus_lite") is None:
                raise BackendMissing(f"a local Milvus uri needs milvus-lite: {INSTALL_HINT}")
            Path(uri).parent.mkdir(parents=True, exist_ok=True)
        return pymilvus.MilvusClient(uri=uri, token=token or "")

    def _open_alias(self) -> str:
        """The alias name, creating a first collection behind it when there is none."""
        if self.physical() is None:
            if self.client.has_collection(self.collection):
                raise ValueError(f"{self.collection!r} is a plain Milvus collection, not an alias; "
                                 "pick another collection name")
            name = self._new_name()
            self._create(name)
            self.client.create_alias(name, self.collection)
            logger.info("created Milvus collection %s behind alias %s", name, self.collection)
        else:
            fields = self.client.describe_collection(self.collection)["fields"]
            dim = next((int(f["params"]["dim"]) for f in fields if f["name"] == "vector"), None)
            if dim != self.dim:  # another model's vectors: searching them would be noise
                raise ValueError(f"Milvus collection {self.collection!r} holds {dim}-d vectors, not "
                                 f"{self.dim}-d; rebuild it or pick another collection name")
            # Milvus Lite forgets the load state on restart; on a server this is a no-op
            self.client.load_collection(self.physical())
        return self.collection

    def physical(self) -> str | None:
        """The collection the alias points at now (None when there is no alias yet)."""
        # list first: describing a missing alias makes pymilvus log a traceback
        if self.collection not in self.client.list_aliases().get("aliases", []):
            return None
        return self.client.describe_alias(self.collection)["collection_name"]

    def _new_name(self) -> str:
        return f"{self.collection}__{time.strftime('%Y%m%d%H%M%S')}_{uuid.uuid4().hex[:6]}"

    def _create(self, name: str) -> None:
        pm = _pymilvus()
        DataType = pm.DataType
        schema = pm.MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("id", DataType.INT64, is_primary=True)
        for field, size in TEXT_FIELDS.items():
            extra = dict(enable_analyzer=True, enable_match=True, analyzer_params=ANALYZER) \
                if field == "text" else {}
            schema.add_field(field, DataType.VARCHAR, max_length=size, **extra)
        for field in INT_FIELDS:
            schema.add_field(field, DataType.INT64)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=self.dim)
        schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
        schema.add_function(pm.Function(name="text_bm25", function_type=pm.FunctionType.BM25,
                                        input_field_names=["text"], output_field_names=["sparse"]))
        index = self.client.prepare_index_params()
        index.add_index(field_name="vector", index_type="HNSW", metric_type="COSINE",
                        params={"M": HNSW_M, "efConstruction": HNSW_EF_CONSTRUCTION})
        index.add_index(field_name="sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25")
        for field in ("doc", "city", "year"):  # the filter fields
            index.add_index(field_name=field, index_type="INVERTED")
        self.client.create_collection(name, schema=schema, consistency_level=self.consistency,
                                      num_shards=self.shards)
        # sync=False: an empty collection indexes at once, and Milvus Lite cannot answer the
        # timestamp call pymilvus polls with (0.5 s per index, and an error logged)
        self.client.create_index(name, index, sync=False)
        self.client.load_collection(name)

    # ---- the protocol --------------------------------------------------------

    def upsert(self, ids, vectors, metadata: list[dict], *, skip_existing: bool = False) -> None:
        """Write rows in batches. ``skip_existing`` leaves ids already stored alone: a build
        killed mid-way resumes by repeating its upsert."""
        ids = np.asarray(ids, np.int64).reshape(-1)
        vectors = np.asarray(vectors, np.float32).reshape(len(ids), self.dim)
        if len(metadata) != len(ids) or len(set(ids.tolist())) != len(ids):
            raise ValueError("upsert needs one metadata dict per id, and distinct ids")
        rows = np.arange(len(ids))
        if skip_existing:
            rows = rows[np.isin(ids, self.missing_ids(ids))]
        bar = tqdm(total=len(rows), desc="milvus upsert", unit="row", disable=not self.progress or not len(rows))
        for a in range(0, len(rows), self.batch_size):
            batch = rows[a:a + self.batch_size]
            self.client.upsert(self._target, [_row(int(ids[r]), vectors[r], metadata[r]) for r in batch])
            bar.update(len(batch))
        bar.close()

    def delete(self, ids: Iterable[int]) -> None:
        ids = [int(i) for i in ids]
        for a in range(0, len(ids), self.batch_size):
            self.client.delete(self._target, ids=ids[a:a + self.batch_size])

    def search(self, vector, k: int, where: dict | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(ids, cosine scores) of the ``k`` nearest rows matching ``where``, best first."""
        q = np.asarray(vector, np.float32).reshape(self.dim)
        if k <= 0:
            return _hits([])
        hits = self.client.search(self._target, data=[q.tolist()], anns_field="vector", limit=int(k),
                                  filter=milvus_filter(where), output_fields=["id"],
                                  search_params={"metric_type": "COSINE", "params": {"ef": max(self.ef_search, k)}},
                                  consistency_level=self.consistency)
        return _hits(hits)

    def get_vectors(self, ids) -> np.ndarray:
        found = {i: r["vector"] for i, r in self._get(ids, ["vector"]).items()}
        return np.array([found[int(i)] for i in np.asarray(ids, np.int64).tolist()],  # KeyError: no such id
                        np.float32).reshape(-1, self.dim)

    def count(self) -> int:
        return self._count("")

    # ---- text, hybrid, documents -------------------------------------------

    def search_text(self, query_text: str, k: int, where: dict | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(ids, BM25 scores) of the ``k`` best rows for ``query_text`` (jieba words), best first."""
        if k <= 0 or not query_text.strip():
            return _hits([])
        hits = self.client.search(self._target, data=[query_text], anns_field="sparse", limit=int(k),
                                  filter=milvus_filter(where), output_fields=["id"],
                                  search_params={"metric_type": "BM25"}, consistency_level=self.consistency)
        ids, scores = _hits(hits)
        # BM25 is never negative: negative scores are Milvus Lite's negated distances (same order)
        return ids, (-scores if (scores < 0).any() else scores)

    def hybrid(self, vector, query_text: str, k: int, where: dict | None = None, *,
               weights: tuple[float, float] | None = None, fetch: int | None = None,
               rrf_k: int = 60) -> tuple[np.ndarray, np.ndarray]:
        """Dense and BM25 routes fused on the server: reciprocal-rank fusion by default (rank
        based, so it does not care how either route scales its scores), or a weighted sum of
        (dense, text) with ``weights``. Each route fetches ``fetch`` (default 4k) candidates."""
        if k <= 0:
            return _hits([])
        if not query_text.strip():  # no words: the dense route alone
            return self.search(vector, k, where)
        pm = _pymilvus()
        expr, fetch = milvus_filter(where), int(fetch or 4 * k)
        q = np.asarray(vector, np.float32).reshape(self.dim).tolist()
        routes = [pm.AnnSearchRequest(data=[q], anns_field="vector", limit=fetch, expr=expr,
                                      param={"metric_type": "COSINE", "params": {"ef": max(self.ef_search, fetch)}}),
                  pm.AnnSearchRequest(data=[query_text], anns_field="sparse", limit=fetch, expr=expr,
                                      param={"metric_type": "BM25"})]
        ranker = pm.WeightedRanker(*weights) if weights else pm.RRFRanker(rrf_k)
        hits = self.client.hybrid_search(self._target, routes, ranker, limit=int(k), output_fields=["id"],
                                         consistency_level=self.consistency)
        return _hits(hits)

    def get_rows(self, ids) -> list[dict]:
        """The stored fields (doc, start, end, title, section, city, year, text) of each id, in order."""
        found = self._get(ids, list(ROW_FIELDS))
        return [{f: found[int(i)][f] for f in ROW_FIELDS} for i in np.asarray(ids, np.int64).tolist()]

    def missing_ids(self, ids) -> np.ndarray:
        """The ids of ``ids`` not stored yet, in their order."""
        ids = np.asarray(ids, np.int64).reshape(-1)
        have = set(self._get(ids, ["id"]))
        return ids[[int(i) not in have for i in ids.tolist()]] if len(ids) else ids

    def delete_docs(self, names: Iterable[str]) -> int:
        """Drop every row of the documents ``names``; returns how many rows went."""
        names, gone = sorted({str(n) for n in names}), 0
        for a in range(0, len(names), self.batch_size):
            expr = "doc in [" + ", ".join(quote(n) for n in names[a:a + self.batch_size]) + "]"
            n = self._count(expr)
            if n:
                self.client.delete(self._target, filter=expr)
            gone += n
        return gone

    def docs(self) -> dict[str, int]:
        """Document name -> stored rows (what the corpus diff of a build compares against)."""
        out: dict[str, int] = {}
        it = self.client.query_iterator(self._target, batch_size=self.batch_size, filter="",
                                        output_fields=["doc"], consistency_level=self.consistency)
        try:
            while batch := it.next():
                for r in batch:
                    out[r["doc"]] = out.get(r["doc"], 0) + 1
        finally:
            it.close()
        return out

    def ids_of_docs(self, names) -> list[int]:
        """Stored ids of the rows of these documents (a mirror reconciles by them)."""
        out: list[int] = []
        names = sorted(set(names))
        for a in range(0, len(names), 100):
            expr = f"doc in [{', '.join(quote(n) for n in names[a:a + 100])}]"
            it = self.client.query_iterator(self._target, batch_size=self.batch_size, filter=expr,
                                            output_fields=["id"], consistency_level=self.consistency)
            try:
                while batch := it.next():
                    out.extend(int(r["id"]) for r in batch)
            finally:
                it.close()
        return out

    # ---- rebuild behind the alias ------------------------------------------

    @contextmanager
    def rebuild(self) -> Iterator["MilvusStore"]:
        """``with store.rebuild() as new: new.upsert(...)`` fills a fresh collection; when the
        block ends cleanly the alias moves to it and the old collection is dropped. Until
        then every reader (this store included) answers from the old one; if the block
        raises, the fresh collection is dropped and nothing changed."""
        old = self.physical()
        for stale in self.client.list_collections():  # left by a rebuild that was killed
            if stale.startswith(self.collection + "__") and stale != old:
                logger.warning("dropping %s, left over from an unfinished rebuild", stale)
                self.client.drop_collection(stale)
        name = self._new_name()
        self._create(name)
        new = MilvusStore(self.uri, dim=self.dim, collection=self.collection, batch_size=self.batch_size,
                          progress=self.progress, ef_search=self.ef_search, consistency=self.consistency,
                          shards=self.shards, _target=name, _client=self.client)
        try:
            yield new
            new.flush()
            new.wait_indexed()  # sealed and indexed before any reader is sent there
        except BaseException:
            self.client.drop_collection(name)
            raise
        self.client.alter_alias(name, self.collection)
        logger.info("alias %s now names %s (%d rows)", self.collection, name, new.count())
        if old and old != name:
            self.client.drop_collection(old)

    def flush(self) -> None:
        """Seal what was written (Milvus does this by itself; a bulk load ends with it)."""
        self.client.flush(self._target)

    def wait_indexed(self, timeout: float = 3600.0, poll: float = 1.0) -> None:
        """Block until the server has built the HNSW index over every row (a segment not yet
        indexed is searched by brute force: right, but slow). Milvus Lite always reports
        its index finished, so this returns at once there."""
        deadline = time.monotonic() + timeout
        while True:
            info = self.client.describe_index(self._target, "vector") or {}
            if info.get("pending_index_rows", 0) == 0 and \
                    info.get("indexed_rows", 0) >= info.get("total_rows", 0):
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"index of {self._target} unfinished after {timeout:.0f}s: {info}")
            time.sleep(poll)

    def close(self) -> None:
        self.client.close()

    # ---- helpers -------------------------------------------------------------

    def _get(self, ids, fields: list[str]) -> dict[int, dict]:
        ids = [int(i) for i in np.asarray(ids, np.int64).reshape(-1).tolist()]
        out: dict[int, dict] = {}
        for a in range(0, len(ids), self.batch_size):
            # ints only (coerced above), so interpolating them into the filter is safe
            part = ids[a:a + self.batch_size]
            for r in self.client.query(self._target, filter=f"id in [{', '.join(map(str, part))}]",
                                       output_fields=["id", *fields], limit=len(part),
                                       consistency_level=self.consistency):
                out[int(r["id"])] = r
        return out

    def _count(self, expr: str) -> int:
        res = self.client.query(self._target, filter=expr, output_fields=["count(*)"],
                                consistency_level=self.consistency)
        return int(res[0]["count(*)"])


def _row(i: int, vector: np.ndarray, meta: dict) -> dict:
    row = {"id": i, "vector": vector.tolist()}
    for field, size in TEXT_FIELDS.items():
        value = meta.get(field)
        row[field] = "" if value is None else str(value)
        if len(row[field].encode("utf-8")) > size:
            raise ValueError(f"row {i}: {field} is longer than Milvus's {size}-byte limit")
    for field in INT_FIELDS:
        row[field] = int(meta.get(field) or 0)
    return row


def _hits(result) -> tuple[np.ndarray, np.ndarray]:
    hits = result[0] if len(result) else []
    return (np.array([int(h["id"]) for h in hits], np.int64),
            np.array([float(h["distance"]) for h in hits], np.float32))
