"""Index stage: generations of immutable segments under ``index/``, crash-safe.

Layout::

    index/CURRENT                 name of the live generation (replaced atomically)
    index/gen-<id>/manifest.json  what the generation holds: segments, dead documents, checksums
    index/gen-<id>/bridge.json    corpus-wide tables (English bridge, places)
    index/gen-<id>/seg-<id>/      ids.npy, vectors.npy, ann.faiss, meta.json (qa.store.faiss),
                                  texts.sqlite (qa.store.texts), sentence_vectors.npy (sentences, then
                                  the clauses of multi-clause ones)
    index/.lock                   serialises writers

A segment holds whole documents and never changes once written. A build writes
a segment for the documents it (re-)embedded, hard-links the unchanged
segments from the previous generation, and records removed documents as dead
rather than rewriting their segment; small segments are merged now and then
(:func:`merge_plan`). The new generation is fsynced, then ``CURRENT`` is swapped
with ``os.replace``: a crash at any point leaves ``CURRENT`` naming the previous
complete generation, and readers never see a half-written one.
"""
from __future__ import annotations

import errno
import json
import logging
import math
import os
import shutil
import time
import uuid
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from filelock import FileLock

from .fsutil import write_atomic
from .schema import Chunk
from .store.ann import HNSW_EF_SEARCH
from .store.faiss import FaissStore, Segment, load_segment, save_segment
from .store.bm25 import SegmentedBM25, TermStats
from .store.texts import SegmentTexts, read_texts, write_texts

logger = logging.getLogger(__name__)

FORMAT_VERSION = 2
_POINTER = "CURRENT"
MERGE_FACTOR = 10  # segments of one size tier (a power of ten of rows) merged once this many exist
MAX_DEAD_SHARE = 0.5  # a segment with more dead rows than this is rewritten


@dataclass
class IndexSegment:
    """One segment: its vector rows, texts and sentence vectors."""
    vectors: Segment
    texts: SegmentTexts
    sentence_vectors: np.ndarray
    dead_docs: set[str] = field(default_factory=set)
    bm25: TermStats | None = None  # None: built from texts.tokens when written
    path: Path | None = None  # its directory, when it was read from disk

    def token_lists(self) -> list[list[str]]:
        """BM25 tokens per row (read from the segment's file when they were not loaded)."""
        if self.texts.tokens or not self.texts.ids:
            return self.texts.tokens
        return read_texts(self.path / "texts.sqlite", tokens=True).tokens

    @property
    def name(self) -> str:
        return self.vectors.name

    @property
    def live_docs(self) -> list[str]:
        return [d for d in self.texts.docs if d not in self.dead_docs]


@dataclass
class StoredIndex:
    """One loaded generation: what retrieval searches. Rows run in document-name order,
    as a full build would lay them out, whatever segments they came from."""
    generation: str
    manifest: dict
    chunks: list[Chunk]
    vectors: np.ndarray  # (n, d) float32, L2-normalised
    ann: object = field(repr=False)  # the VectorStore searched: FaissStore, or MilvusStore (QA_STORE=milvus)
    # name -> JSON value or array (doc texts, bridge, places, sentences, sentence vectors, tokens)
    extras: dict = field(default_factory=dict, repr=False)
    ids: np.ndarray = None  # stable chunk id per row
    segments: list[IndexSegment] = field(default_factory=list, repr=False)
    bm25: SegmentedBM25 | None = field(default=None, repr=False)  # persisted term statistics

    def __post_init__(self):
        if self.ids is None:
            self.ids = np.arange(len(self.chunks), dtype=np.int64)
        self._row = {int(i): r for r, i in enumerate(self.ids.tolist())}

    def row_of(self, chunk_id: int) -> int | None:
        """The row of a stable chunk id in this generation (None: not live here)."""
        return self._row.get(int(chunk_id))

    def search(self, queries: np.ndarray, k: int, where: dict | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(scores, rows), shaped (len(queries), k) as faiss returns them, -1 padded."""
        k = min(k, len(self.chunks))
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        scores = np.full((len(queries), k), -np.inf, np.float32)
        rows = np.full((len(queries), k), -1, np.int64)
        if k == 0:
            return scores, rows
        for qi, q in enumerate(queries):
            if hasattr(self.ann, "get_vectors"):  # a VectorStore (FaissStore, MilvusStore)
                ids, s = self.ann.search(q, k, where)
                # a remote store may briefly hold rows this generation does not: skip them
                keep = [j for j, i in enumerate(ids.tolist()) if i in self._row]
                r, s = [self._row[int(ids[j])] for j in keep], s[keep]
            else:  # a bare faiss index over the rows (tests, benchmarks)
                s, r = self.ann.search(q[None, :], k)
                s, r = s[0], r[0]
            scores[qi, :len(r)], rows[qi, :len(r)] = s, r
        return scores, rows


def merge_plan(segments: list[IndexSegment]) -> list[list[IndexSegment]]:
    """Groups of segments to merge: every size tier (10^t live rows) with MERGE_FACTOR
    segments or more, and any segment mostly dead. Logarithmic merging keeps the
    segment count near log10(rows) and rewrites each row O(log n) times overall."""
    tiers: dict[int, list[IndexSegment]] = {}
    groups = []
    for seg in segments:
        total, live = len(seg.vectors.ids), seg.vectors.live
        if total and (total - live) / total > MAX_DEAD_SHARE:
            groups.append([seg])
            continue
        tiers.setdefault(int(math.log10(max(live, 1))), []).append(seg)
    groups.extend(group for group in tiers.values() if len(group) >= MERGE_FACTOR)
    return groups


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

    def load(self, tokens: bool = False) -> StoredIndex | None:
        """The live generation; if the pointer is garbage or the generation is damaged,
        the newest other generation that is intact (logged); None when there is none.
        ``tokens``: also each chunk's BM25 token list (``extras["tokens"]``); search needs
        only the persisted statistics."""
        gen = self.current()
        loaded = self._load_generation(gen, tokens) if gen else None
        if loaded is not None:
            return loaded
        for other in self.generations():
            if other != gen:
                loaded = self._load_generation(other, tokens)
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

    def _load_generation(self, gen: str, tokens: bool = False) -> StoredIndex | None:
        path = self.dir / gen
        try:
            manifest = json.loads((path / "manifest.json").read_text(encoding="utf-8"))
            if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_VERSION:
                return None
            for name, want in (manifest.get("checksums") or {}).items():
                if _crc32(path / name) != want:
                    raise ValueError(f"{name} does not match its checksum (damaged on disk)")
            segments = []
            for entry in manifest["segments"]:
                seg_dir = path / entry["name"]
                texts = read_texts(seg_dir / "texts.sqlite", tokens)
                dead_docs = set(entry.get("dead", []))
                dead_ids = [i for i, c in zip(texts.ids, texts.chunks) if c.doc in dead_docs]
                vectors = load_segment(seg_dir, dead_ids, manifest.get("ef_search", HNSW_EF_SEARCH))
                sent = np.load(seg_dir / "sentence_vectors.npy")
                bm25 = TermStats.load(seg_dir)
                if len(vectors.ids) != len(texts.ids) or len(sent) != len(texts.sentences) \
                        or vectors.ids.tolist() != texts.ids or len(bm25.lengths) != len(texts.ids):
                    raise ValueError(f"segment {entry['name']} is inconsistent")
                segments.append(IndexSegment(vectors, texts, sent, dead_docs, bm25, seg_dir))
            tables = json.loads((path / "bridge.json").read_text(encoding="utf-8"))
            loaded = _view(gen, manifest, segments, tables)
            if loaded.ann.count() != len(loaded.chunks) or len(loaded.chunks) != manifest.get("n_chunks"):
                raise ValueError("generation is inconsistent")
        except (OSError, ValueError, RuntimeError, TypeError, EOFError, KeyError, AttributeError) as exc:
            logger.warning("index generation %s is unreadable (%s); it will be rebuilt", gen, exc)
            return None
        return loaded

    def write(self, manifest: dict, segments: list[IndexSegment], tables: dict,
              base: StoredIndex | None = None) -> tuple[str, dict]:
        """Persist a generation of ``segments`` and make it live atomically: (its name, its
        manifest). Segments already in ``base`` are hard-linked from it; the others are
        written. Caller holds ``lock``."""
        now = time.time_ns()  # to the microsecond, so names sort by build time (load's fallback)
        gen = f"gen-{time.strftime('%Y%m%d%H%M%S', time.gmtime(now // 10**9))}{now // 1000 % 10**6:06d}" \
              f"-{uuid.uuid4().hex[:6]}"
        tmp = self.dir / f".tmp-{gen}"
        old = {s.name for s in base.segments} if base is not None else set()
        old_sums = (base.manifest.get("checksums") or {}) if base is not None else {}
        moved = False
        try:
            tmp.mkdir(parents=True)
            sums, written = {}, []
            for seg in segments:
                if seg.name in old:
                    for src in (self.dir / base.generation / seg.name).iterdir():
                        rel = f"{seg.name}/{src.name}"
                        _link(src, tmp / rel)
                        if rel in old_sums:
                            sums[rel] = old_sums[rel]
                    continue
                save_segment(seg.vectors, tmp / seg.name)
                write_texts(tmp / seg.name / "texts.sqlite", seg.texts)
                np.save(tmp / seg.name / "sentence_vectors.npy",
                        np.ascontiguousarray(seg.sentence_vectors, dtype=np.float32))
                if seg.bm25 is None:
                    seg.bm25 = TermStats.build(seg.texts.tokens)
                seg.bm25.save(tmp / seg.name)
                written.extend((tmp / seg.name).iterdir())
            (tmp / "bridge.json").write_text(json.dumps(tables, ensure_ascii=False), encoding="utf-8")
            written.append(tmp / "bridge.json")
            # damage that keeps a file's shape (overwritten vectors, emptied tables) is caught at load
            sums.update({str(p.relative_to(tmp)): _crc32(p) for p in written})
            live = sum(s.vectors.live for s in segments)
            manifest = {**manifest, "format": FORMAT_VERSION, "generation": gen, "n_chunks": live,
                        "segments": [{"name": s.name, "rows": len(s.vectors.ids), "kind": s.vectors.kind,
                                      "dead": sorted(s.dead_docs)} for s in segments],
                        "rows_written": sum(len(s.vectors.ids) for s in segments if s.name not in old),
                        "checksums": dict(sorted(sums.items()))}
            # the manifest goes last: a generation without one is never loaded
            (tmp / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, separators=(",", ":")),
                                              encoding="utf-8")
            for p in written + [tmp / "manifest.json"]:
                _fsync(p)
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
        logger.info("index generation %s is live (%d chunks, %d rows written)", gen, manifest["n_chunks"],
                    manifest["rows_written"])
        # the previous generation stays one round for readers mid-load
        self.collect_garbage(keep={gen, previous or ""})
        return gen, manifest

    def collect_garbage(self, keep: set[str]) -> None:
        """Remove superseded generations and temp dirs left by crashed writers (segments
        shared by hard links survive in the generations that keep them)."""
        for p in self.dir.iterdir():
            if p.is_dir() and p.name not in keep and p.name.startswith(("gen-", ".tmp-gen-")):
                shutil.rmtree(p, ignore_errors=True)


def _view(gen: str, manifest: dict, segments: list[IndexSegment], tables: dict) -> StoredIndex:
    """The rows of every live document, in document-name order, as one index."""
    placed: dict[str, tuple[IndexSegment, list[int], list[int]]] = {}
    for seg in segments:
        chunk_rows: dict[str, list[int]] = {}
        for r, c in enumerate(seg.texts.chunks):
            chunk_rows.setdefault(c.doc, []).append(r)
        sent_rows: dict[str, list[int]] = {}
        for r, (d, _, _) in enumerate(seg.texts.sentences):
            sent_rows.setdefault(d, []).append(r)
        for doc in seg.live_docs:
            if doc in placed:
                raise ValueError(f"document {doc} is live in two segments")
            placed[doc] = (seg, chunk_rows.get(doc, []), sent_rows.get(doc, []))
    chunks, ids, tokens, sentences, vec_parts, sent_parts, docs = [], [], [], [], [], [], {}
    global_rows = {seg.name: np.full(len(seg.texts.ids), -1, np.int64) for seg in segments}
    for doc in sorted(placed):
        seg, rows, srows = placed[doc]
        global_rows[seg.name][rows] = np.arange(len(chunks), len(chunks) + len(rows))
        docs[doc] = seg.texts.docs[doc][1]
        chunks.extend(seg.texts.chunks[r] for r in rows)
        ids.extend(seg.texts.ids[r] for r in rows)
        if seg.texts.tokens:
            tokens.extend(seg.texts.tokens[r] for r in rows)
        sentences.extend(seg.texts.sentences[r] for r in srows)
        vec_parts.append((seg, rows))
        sent_parts.append((seg, srows))
    dim = segments[0].vectors.vectors.shape[1] if segments else int(manifest.get("dim", 0))
    store = FaissStore(dim)
    for seg in segments:
        store.add_segment(seg.vectors)
    extras = {"docs": docs, "bridge": tables.get("bridge", {}), "absent_places": tables.get("absent_places", []),
              "present_places": tables.get("present_places", []), "years": tables.get("years", []),
              "sentences": sentences, "sentence_vectors": _rows_in_order(sent_parts, segments, "sentence", dim),
              **({"tokens": tokens} if len(tokens) == len(chunks) and chunks else {})}
    vectors = _rows_in_order(vec_parts, segments, "chunk", dim)
    bm25 = SegmentedBM25([(seg.bm25, global_rows[seg.name]) for seg in segments if seg.bm25 is not None],
                         len(chunks))
    return StoredIndex(gen, manifest, chunks, vectors, store, extras, np.array(ids, np.int64), segments, bm25)


def _rows_in_order(parts: list[tuple[IndexSegment, list[int]]], segments: list[IndexSegment], what: str,
                   dim: int) -> np.ndarray:
    """The rows of ``parts`` stacked in order. A single segment whose rows already run in
    that order (any full build) is used as it is, so its vectors are not held twice."""
    def source(seg):
        return seg.vectors.vectors if what == "chunk" else seg.sentence_vectors
    if not parts:
        return np.zeros((0, dim), np.float32)
    if len(segments) == 1:
        rows = [r for _, rs in parts for r in rs]
        whole = source(segments[0])
        if len(rows) == len(whole) and rows == list(range(len(whole))):
            return whole
    return np.vstack([source(seg)[rs] for seg, rs in parts])


def _atomic_write_text(path: Path, text: str) -> None:
    write_atomic(path, text.encode("utf-8"))


def _link(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)
    except OSError:  # a filesystem without hard links: copy (the file is immutable either way)
        shutil.copy2(src, dst)


def _crc32(path: Path) -> str:
    """CRC-32 of a file: ~1 GB/s, so checking a generation costs little next to reading it."""
    crc = 0
    with open(path, "rb") as fh:
        while block := fh.read(1 << 22):
            crc = zlib.crc32(block, crc)
    return f"{crc:08x}"


def _disk_full(exc: BaseException) -> bool:
    """An ENOSPC/EDQUOT OSError, or a faiss RuntimeError about one (faiss wraps fwrite failures)."""
    if isinstance(exc, OSError):
        return exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC))
    return isinstance(exc, RuntimeError) and "No space left on device" in str(exc)


def _fsync(path: Path) -> None:
    with open(path, "rb") as fh:
        os.fsync(fh.fileno())
