"""Stores behind small protocols: vectors (:mod:`.base`, :mod:`.faiss`), texts (:mod:`.texts`)
and the ANN factory (:mod:`.ann`)."""
from .base import FILTER_FIELDS, VectorStore, check_where, chunk_id, matches
from .faiss import FaissStore

__all__ = ["FILTER_FIELDS", "FaissStore", "VectorStore", "check_where", "chunk_id", "matches"]
