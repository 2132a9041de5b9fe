"""Build stage: bring the index in line with ``corpus/`` as a diff.

Documents whose size and mtime match the live manifest are not even read;
the others are hashed, and only new or changed ones are chunked and
embedded, into one new segment. Removed or changed documents become dead
rows of the segment that held them. Unchanged segments are shared with the
new generation by hard links, so adding one document writes that document's
rows and little else (``manifest["rows_written"]``); segments are merged
logarithmically (:func:`qa.index.merge_plan`).
"""
from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import numpy as np
from tqdm import tqdm

from . import chunking, corpus
from .candidates import forms
from .index import IndexSegment, StoredIndex, merge_plan
from .lexical import bm25_tokens
from .presence import bridge, doc_presence, merge, place_lists
from .store.base import chunk_id
from .store.faiss import FaissStore, Segment
from .store.texts import SegmentTexts

logger = logging.getLogger(__name__)

_ALL = "*"  # the lexicon row holding the union of a segment's documents
# characters of new documents embedded and committed at a time: ~5k chunks and ~10k sentences,
# a few minutes of embedding on 2 cores and ~60 MB of vectors
BATCH_CHARS = 1_000_000


@dataclass
class BuildReport:
    generation: str
    documents: int
    chunks: int
    embedded: int  # chunks embedded this time (the rest were kept)
    removed: list[str]
    seconds: float
    rows_written: int = 0  # vector rows written to disk (new and merged segments)
    base: str | None = None  # the generation this build started from (None: a full build)
    new_docs: list[str] = field(default_factory=list)  # embedded this time
    gone: list[str] = field(default_factory=list)  # whose old rows died (removed or changed)


@dataclass
class Diff:
    """What changed in corpus/ since the live generation."""
    files: dict[str, str]  # name -> sha256 of every readable corpus file
    stats: dict[str, list[int]]
    new: list[corpus.Document]  # new or changed documents, to embed
    gone: list[str]  # removed or changed names, whose old rows die
    removed: list[str]  # names no longer in corpus/


def diff_corpus(corpus_dir: Path, old_manifest: dict | None) -> Diff:
    old_files = (old_manifest or {}).get("files") or {}
    old_stats = (old_manifest or {}).get("stats") or {}
    stats = corpus.corpus_stats(corpus_dir)
    files, new = {}, []
    for name in list(stats):
        if name in old_files and old_stats.get(name) == stats[name]:
            files[name] = old_files[name]  # same size and mtime: not read
            continue
        path = corpus_dir / name
        try:
            doc = corpus.load_document(path)
        except (UnicodeDecodeError, OSError) as exc:  # one bad file must not take the corpus down
            logger.warning("skipping %s: %s", name, exc)
            stats.pop(name, None)
            continue
        files[name] = doc.sha256
        if old_files.get(name) != doc.sha256:
            new.append(doc)
    removed = sorted(set(old_files) - set(files))
    gone = sorted(removed + [d.name for d in new if d.name in old_files])
    return Diff(files, stats, new, gone, removed)


class IndexBuilder:
    """One build run over ``store`` with ``engine``'s encoder and settings."""

    def __init__(self, engine):
        self.engine = engine
        self.settings = engine.settings

    def run(self, old: StoredIndex | None, force: bool, progress: bool) -> BuildReport | None:
        t0 = time.perf_counter()
        engine, settings, store = self.engine, self.settings, self.engine.store
        compatible = old is not None and not force and engine.same_recipe(old.manifest)
        diff = diff_corpus(settings.corpus_dir, old.manifest if compatible else None)
        if compatible and not diff.new and not diff.gone:
            return None  # touched files hash the same: nothing to write
        vstore = FaissStore(engine.encoder.dim, settings.index_type, flat_max=settings.auto_flat_max,
                            hnsw_m=settings.hnsw_m, ef_search=settings.hnsw_ef_search)
        segments = []
        for seg in (old.segments if compatible else []):  # copies: the live index stays as it is
            vectors = dataclasses.replace(seg.vectors, dead=seg.vectors.dead.copy())
            segments.append(IndexSegment(vectors, seg.texts, seg.sentence_vectors, set(seg.dead_docs), seg.bm25,
                                         seg.path))
            vstore.add_segment(vectors)
        gone = set(diff.gone)
        for seg in segments:
            dying = gone & set(seg.live_docs)
            if dying:
                seg.dead_docs |= dying
                vstore.delete(i for i, c in zip(seg.texts.ids, seg.texts.chunks) if c.doc in dying)
        # new documents go in batches of bounded size, each committed as a generation: memory
        # stays bounded, and a build killed half-way keeps the batches it finished
        batches = _batches(diff.new, BATCH_CHARS) or [[]]
        pending = {d.name for d in diff.new}
        base = old if compatible else None
        embedded, rows_written = 0, 0
        bar = tqdm(total=len(diff.new), desc="indexing", unit="doc",
                   disable=not progress or len(batches) < 2)
        for bi, batch in enumerate(batches):
            if batch:
                fresh = self._new_segment(vstore, batch, progress and len(batches) == 1)
                embedded += len(fresh.texts.ids)
                segments.append(fresh)
                pending -= {d.name for d in batch}
            if bi == len(batches) - 1:
                for group in merge_plan(segments):
                    merged = self._merge(vstore, group)
                    segments = [s for s in segments if s not in group] + ([merged] if merged else [])
            segments = [s for s in segments if s.live_docs]
            manifest = {**engine.recipe(),
                        "files": {n: sha for n, sha in sorted(diff.files.items()) if n not in pending},
                        "stats": {n: st for n, st in diff.stats.items() if n not in pending},
                        "ann": settings.index_type, "ef_search": settings.hnsw_ef_search,
                        "dim": engine.encoder.dim, "chunk_size": settings.chunk_size,
                        "chunk_overlap": settings.chunk_overlap,
                        "doc_chunks": _doc_chunks(segments)}
            gen, written = store.write(manifest, segments, _tables(segments), base=base)
            rows_written += int(written.get("rows_written", 0))
            # the next batch links this generation's segments
            base = SimpleNamespace(generation=gen, segments=list(segments), manifest=written)
            bar.update(len(batch))
        bar.close()
        return BuildReport(gen, len(diff.files), sum(s.vectors.live for s in segments), embedded,
                           diff.removed if compatible else sorted(set((old.manifest.get("files") or {}) if old else {})
                                                                  - set(diff.files)),
                           time.perf_counter() - t0, rows_written,
                           old.generation if compatible else None, [d.name for d in diff.new],
                           diff.gone if compatible else [])

    def _new_segment(self, vstore: FaissStore, docs: list[corpus.Document], progress: bool) -> IndexSegment:
        settings, engine = self.settings, self.engine
        chunks, sentences, ids, texts, lexicon = [], [], [], [], {}
        for doc in docs:
            doc_chunks = chunking.chunk_document(doc, settings.chunk_size, settings.chunk_overlap)
            # sentences, then the clauses of those with several (stored alike, looked up by offsets)
            doc_sents = chunking.sentence_spans(doc, settings.chunk_size)
            doc_sents += chunking.clause_spans(doc, forms()["clause_marks"], sentences=doc_sents)
            chunks.extend(doc_chunks)
            ids.extend(chunk_id(doc.name, doc.sha256, c.start, c.end) for c in doc_chunks)
            sentences.extend([doc.name, s.start, s.end] for s in doc_sents)
            texts.extend(engine.passage_text(c) for c in doc_chunks)
            lexicon[doc.name] = doc_presence(doc.body)
        n = len(texts)  # texts to embed: the windows, then the sentences
        by_name = {d.name: d.text for d in docs}
        texts.extend(by_name[d][a:b] for d, a, b in sentences)
        logger.info("embedding %d chunks and %d sentences", n, len(sentences))
        vecs = engine.encoder.encode_passages(texts, progress=progress and len(texts) > 32)
        vecs = np.asarray(vecs, np.float32).reshape(len(texts), engine.encoder.dim)
        vstore.upsert(np.array(ids, np.int64), vecs[:n],
                      [{"doc": c.doc, "city": c.city, "year": c.year} for c in chunks])
        seg = vstore.seal()
        lexicon[_ALL] = {k: sorted(v) for k, v in merge(lexicon.values()).items()}
        seg_texts = SegmentTexts({d.name: (d.sha256, d.text) for d in docs}, ids, chunks,
                                 [bm25_tokens(c) for c in chunks], sentences, lexicon)
        return IndexSegment(seg, seg_texts, vecs[n:])

    def _merge(self, vstore: FaissStore, group: list[IndexSegment]) -> IndexSegment | None:
        """One segment holding the live documents of ``group``."""
        if not any(s.live_docs for s in group):
            for s in group:
                vstore.drop_segment(s.vectors)
            return None
        docs, ids, chunks, tokens, sentences, sent_vecs, lexicon = {}, [], [], [], [], [], {}
        for s in group:
            live = set(s.live_docs)
            for d in s.live_docs:
                docs[d] = s.texts.docs[d]
                lexicon[d] = s.texts.lexicon.get(d, {})
            for i, c, t in zip(s.texts.ids, s.texts.chunks, s.token_lists()):
                if c.doc in live:
                    ids.append(i), chunks.append(c), tokens.append(t)
            rows = [r for r, (d, _, _) in enumerate(s.texts.sentences) if d in live]
            sentences.extend(s.texts.sentences[r] for r in rows)
            sent_vecs.append(s.sentence_vectors[rows])
        seg: Segment = vstore.merge([s.vectors for s in group])
        if seg.ids.tolist() != ids:
            raise RuntimeError("merged segment rows out of step with their texts")
        lexicon[_ALL] = {k: sorted(v) for k, v in merge(lexicon.values()).items()}
        texts = SegmentTexts(docs, ids, chunks, tokens, sentences, lexicon)
        logger.info("merged %d segments into %s (%d rows)", len(group), seg.name, len(ids))
        return IndexSegment(seg, texts, np.vstack(sent_vecs))


def _batches(docs: list[corpus.Document], max_chars: int) -> list[list[corpus.Document]]:
    out, size = [], 0
    for doc in docs:
        if not out or (size + len(doc.body) > max_chars and out[-1]):
            out.append([])
            size = 0
        out[-1].append(doc)
        size += len(doc.body)
    return out


def _doc_chunks(segments: list[IndexSegment]) -> dict[str, int]:
    out: dict[str, int] = {}
    for seg in segments:
        live = set(seg.live_docs)
        for c in seg.texts.chunks:
            if c.doc in live:
                out[c.doc] = out.get(c.doc, 0) + 1
    return dict(sorted(out.items()))


def _tables(segments: list[IndexSegment]) -> dict:
    """Corpus-wide bridge and places from what each live document contains."""
    parts = []
    for seg in segments:
        lex = seg.texts.lexicon
        if not seg.dead_docs and _ALL in lex:
            parts.append(lex[_ALL])
        else:
            parts.extend(lex.get(d, {}) for d in seg.live_docs)
    found = merge(parts)
    absent, present = place_lists(found["places"])
    return {"bridge": bridge(found["cedict"], found["glossary"]),
            "absent_places": absent, "present_places": present, "years": sorted(found["years"])}
