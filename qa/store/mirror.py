"""Keep a remote vector store (Milvus) holding exactly the live rows of the local index.

``index/`` stays the record of what is indexed (texts, sentences, BM25, the
manifest); the remote store serves dense search and filters. After each build
the rows of new or changed documents are upserted and those of removed or
changed documents deleted; a build with another model or chunking fills a new
collection behind the alias. What was synced is written to
``index/mirror.json`` last, so a build killed half-way through a sync is
finished by the next build, which reconciles by id.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

from ..fsutil import write_atomic
from .milvus import MilvusStore, chunk_row

logger = logging.getLogger(__name__)

MARK = "mirror.json"


def open_store(settings, dim: int) -> MilvusStore:
    uri = settings.milvus_uri or str(Path(settings.index_dir) / "milvus.db")
    return MilvusStore(uri, dim=dim, collection=settings.milvus_collection, token=settings.milvus_token or None,
                       ef_search=settings.hnsw_ef_search)


def synced(index_dir: Path) -> dict:
    try:
        return json.loads((Path(index_dir) / MARK).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def sync(remote: MilvusStore, index, index_dir: Path, base: str | None = None, new_docs=(), gone=()) -> dict:
    """Bring ``remote`` in line with the loaded ``index``; returns what it did.

    When the remote store was last synced to ``base`` (the generation this build started
    from), only ``gone`` documents are deleted and ``new_docs`` upserted; otherwise (a sync
    that was cut short, a store nobody recorded) it reconciles every row by id."""
    mark = synced(index_dir)
    recipe = {k: index.manifest.get(k) for k in ("model", "chunking", "pipeline")}
    if mark.get("recipe") != recipe or remote.physical() != mark.get("collection"):
        # other vectors, or a collection this index never recorded: a new one, swapped in whole
        with remote.rebuild() as fresh:
            _upsert(fresh, index, np.arange(len(index.ids)))
        did = {"how": "rebuilt", "upserted": len(index.ids), "deleted": 0}
    elif mark.get("generation") == index.generation:
        return {"how": "in step", "upserted": 0, "deleted": 0}
    elif base is not None and mark.get("generation") == base:
        deleted = remote.delete_docs(sorted(gone)) if gone else 0
        new_docs = set(new_docs)
        todo = np.array([r for r, c in enumerate(index.chunks) if c.doc in new_docs], np.int64)
        _upsert(remote, index, todo)
        did = {"how": "diff", "upserted": len(todo), "deleted": deleted}
    else:
        live_docs = set(index.extras["docs"])
        deleted = remote.delete_docs(sorted(set(remote.docs()) - live_docs))
        deleted += _drop_strays(remote, index)
        missing = set(remote.missing_ids(index.ids).tolist())
        todo = np.array([r for r, i in enumerate(index.ids.tolist()) if i in missing], np.int64)
        _upsert(remote, index, todo)
        did = {"how": "reconciled", "upserted": len(todo), "deleted": deleted}
    remote.flush()
    write_atomic(Path(index_dir) / MARK, json.dumps({"generation": index.generation, "recipe": recipe,
                                                     "collection": remote.physical()}).encode("utf-8"))
    logger.info("vector store in step with %s: %s", index.generation, did)
    return did


def _upsert(remote: MilvusStore, index, rows: np.ndarray) -> None:
    if len(rows):
        remote.upsert(index.ids[rows], index.vectors[rows],
                      [chunk_row(index.chunks[r], index.chunks[r].year) for r in rows.tolist()])


def _drop_strays(remote: MilvusStore, index) -> int:
    """Delete rows of live documents whose ids are no longer live (a changed document whose
    sync was interrupted)."""
    live = set(index.ids.tolist())
    stray = [i for i in remote.ids_of_docs(sorted(index.extras["docs"])) if i not in live]
    if stray:
        remote.delete(stray)
    return len(stray)
