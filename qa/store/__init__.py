"""Stores behind small protocols: vectors (:mod:`.base`; FAISS in process in :mod:`.faiss`,
Milvus in :mod:`.milvus`), texts (:mod:`.texts`), BM25 statistics (:mod:`.bm25`) and the
ANN factory (:mod:`.ann`). Importing :mod:`.milvus` needs no pymilvus until a store is opened."""
from .base import FILTER_FIELDS, VectorStore, check_where, chunk_id, matches
from .faiss import FaissStore
from .milvus import BackendMissing, MilvusStore, milvus_filter

__all__ = ["BackendMissing", "FILTER_FIELDS", "FaissStore", "MilvusStore", "VectorStore", "check_where",
           "chunk_id", "matches", "milvus_filter"]
