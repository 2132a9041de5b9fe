"""The pipeline, wired: corpus -> chunks -> vectors -> index -> retrieve -> answer.

``Engine`` owns the long-lived pieces (model, loaded index, lexical scorer)
and keeps the index in step with ``corpus/``: it builds when the index is
missing or stale, embeds only new or changed documents, and picks up
generations written by other processes (``qa add`` while the app serves).
"""
from __future__ import annotations

import logging
import re
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from . import chunking, corpus
from .embedding import Encoder, make_encoder
from .lexical import absent_places, bm25_tokens, build_bridge, present_places
from .index import IndexStore, StoredIndex, choose_ann, make_ann
from .answer import abstain_reason
from .ranker import Question, load_model
from .reader import TOP_PASSAGES, read, sentences_of, signals, with_choice
from .retrieve import HybridSearcher, check_k, clean_question
from .schema import REASONS, Answer, Passage
from .settings import Settings

logger = logging.getLogger(__name__)

# Bump when what a build derives (extras, vectors' inputs) changes shape or meaning.
PIPELINE_VERSION = 7


@dataclass
class Inspection:
    """A searched question before reading: passages, and whether to abstain."""
    question: Question
    passages: list[Passage]
    k: int
    sentence_sim: object
    code: str  # abstention reason code, '' when the documents might answer
    reason: str
    contexts: list[str]  # the top passages with title and section, whitespace removed
    top_dense: float
    coverage: float


@dataclass
class BuildReport:
    generation: str
    documents: int
    chunks: int
    embedded: int  # chunks embedded this time (the rest were reused)
    removed: list[str]
    seconds: float


class Engine:
    def __init__(self, settings: Settings | None = None, encoder: Encoder | None = None):
        self.settings = settings or Settings.from_env()
        self.encoder = encoder or make_encoder(self.settings.encoder, self.settings.model_dir,
                                                threads=self.settings.encoder_threads)
        self.store = IndexStore(self.settings.index_dir)
        self._index: StoredIndex | None = None
        self._searcher = None
        self._lock = threading.RLock()
        self._cache: OrderedDict[tuple, list[Passage]] = OrderedDict()

    # ---- index lifecycle ---------------------------------------------------

    def expected_manifest(self, docs: list[corpus.Document]) -> dict:
        return {
            "model": self.encoder.fingerprint(),
            "chunking": self.settings.chunking_fingerprint(),
            "pipeline": PIPELINE_VERSION,
            "files": {d.name: d.sha256 for d in docs},
        }

    def is_stale(self, manifest: dict | None, docs: list[corpus.Document] | None = None) -> bool:
        if manifest is None:
            return True
        if docs is None and self._unchanged_on_disk(manifest):
            return False
        docs = corpus.load_corpus(self.settings.corpus_dir) if docs is None else docs
        want = self.expected_manifest(docs)
        return any(manifest.get(key) != want[key] for key in want)

    def _unchanged_on_disk(self, manifest: dict) -> bool:
        """Every corpus file has the size and mtime it had at build, and the model and
        chunking are the same: fresh without reading or hashing a document."""
        stats = manifest.get("stats")
        if not isinstance(stats, dict) or manifest.get("pipeline") != PIPELINE_VERSION \
                or manifest.get("chunking") != self.settings.chunking_fingerprint() \
                or manifest.get("model") != self.encoder.fingerprint():
            return False
        return _file_stats(corpus.corpus_files(self.settings.corpus_dir)) == stats

    def build(self, force: bool = False, progress: bool = True) -> BuildReport | None:
        """Bring the index in line with corpus/. Returns None when it already was."""
        t0 = time.perf_counter()
        with self.store.lock:
            docs = corpus.load_corpus(self.settings.corpus_dir)
            old = self.store.load()
            if not force and old is not None and not self.is_stale(old.manifest, docs):
                return None
            want = self.expected_manifest(docs)
            reusable = _reusable_vectors(old, want) if not force else {}
            chunks, sentences, plan, sizes = [], [], [], []
            for doc in docs:
                doc_chunks = chunking.chunk_document(doc, self.settings.chunk_size,
                                                     self.settings.chunk_overlap)
                doc_sents = chunking.sentence_spans(doc, self.settings.chunk_size)
                chunks.extend(doc_chunks)
                sentences.extend([doc.name, s.start, s.end] for s in doc_sents)
                sizes.append(len(doc_chunks))
                old_vecs = reusable.get(doc.sha256)
                if old_vecs is not None and (len(old_vecs[0]), len(old_vecs[1])) == (len(doc_chunks), len(doc_sents)):
                    plan.append(old_vecs)
                else:  # texts to embed: the windows, then the sentences
                    plan.append([self.passage_text(c) for c in doc_chunks]
                                + [doc.text[s.start:s.end] for s in doc_sents])
            todo = [t for part in plan if isinstance(part, list) for t in part]
            embedded = sum(n for part, n in zip(plan, sizes) if isinstance(part, list))
            if todo:
                logger.info("embedding %d chunks and %d sentences", embedded, len(todo) - embedded)
            fresh = self.encoder.encode_passages(todo, progress=progress and len(todo) > 32)
            chunk_parts, sent_parts, cursor = [], [], 0
            for part, n_chunks in zip(plan, sizes):
                if isinstance(part, list):  # slice this document's fresh vectors back out
                    vecs = fresh[cursor:cursor + len(part)]
                    cursor += len(part)
                    part = (vecs[:n_chunks], vecs[n_chunks:])
                chunk_parts.append(part[0])
                sent_parts.append(part[1])
            dim = self.encoder.dim
            matrix = np.vstack(chunk_parts) if chunk_parts else np.zeros((0, dim), np.float32)
            sent_matrix = np.vstack(sent_parts) if sent_parts else np.zeros((0, dim), np.float32)
            kind = choose_ann(len(chunks), self.settings.index_type, self.settings.auto_flat_max)
            ann = make_ann(matrix, kind, hnsw_m=self.settings.hnsw_m,
                           ef_search=self.settings.hnsw_ef_search)
            manifest = {**want, "ann": kind, "stats": _file_stats(d.path for d in docs), "ef_search": self.settings.hnsw_ef_search,
                        "doc_chunks": {d.name: sum(c.doc == d.name for c in chunks) for d in docs},
                        "chunk_size": self.settings.chunk_size,
                        "chunk_overlap": self.settings.chunk_overlap}
            extras = {"docs": {d.name: d.text for d in docs},
                      "bridge": build_bridge([d.body for d in docs]),
                      "absent_places": absent_places("\n".join(d.body for d in docs)),
                      "present_places": present_places("\n".join(d.body for d in docs)),
                      "sentences": sentences, "sentence_vectors": sent_matrix,
                      # BM25 input, tokenised once here rather than at every start
                      "tokens": [bm25_tokens(c) for c in chunks]}
            gen = self.store.write(manifest, chunks, matrix, ann, extras)
            removed = sorted(set((old.manifest.get("files") or {}) if old else {}) - set(want["files"]))
        with self._lock:
            self._index = None  # reload lazily
            self._cache.clear()
        report = BuildReport(gen, len(docs), len(chunks), embedded, removed, time.perf_counter() - t0)
        logger.info("built %s: %d docs, %d chunks, %d embedded in %.1fs",
                    gen, report.documents, report.chunks, report.embedded, report.seconds)
        return report

    def passage_text(self, chunk: chunking.Chunk) -> str:
        return f"{chunk.title}\n{chunk.text}" if self.settings.embed_title else chunk.text

    def index(self) -> StoredIndex:
        """The live index, built on first use and refreshed when another process swaps it."""
        with self._lock:
            live = self.store.current()
            if self._index is not None and self._index.generation == live:
                return self._index
            loaded = self.store.load()
            if loaded is None or self.is_stale(loaded.manifest):
                self.build()
                loaded = self.store.load()
            if loaded is None:
                raise RuntimeError("the index could not be built")
            self._index = loaded
            self._searcher = None
            self._cache.clear()
            return loaded

    def searcher(self):
        index = self.index()
        with self._lock:
            if self._searcher is None or self._searcher.index is not index:
                self._searcher = HybridSearcher(index, self.encoder, self.settings)
            return self._searcher

    def warm_up(self) -> None:
        """Load model and index now rather than on the first question."""
        self.searcher().search("warm up", 1)

    # ---- queries -------------------------------------------------------------

    def retrieve(self, question: str, k: int | None = None) -> list[Passage]:
        k = self._check_k(k)
        q = clean_question(question, self.settings.max_question_chars)
        searcher = self.searcher()
        key = (searcher.index.generation, q, k)
        if self.settings.query_cache:
            with self._lock:
                hit = self._cache.get(key)
                if hit is not None:
                    self._cache.move_to_end(key)
                    return list(hit)
        passages = searcher.search(q, k)
        if self.settings.query_cache:
            with self._lock:
                self._cache[key] = passages
                while len(self._cache) > self.settings.query_cache:
                    self._cache.popitem(last=False)
        return passages

    def inspect(self, question: str, k: int | None = None) -> "Inspection":
        """One search with everything the answer stage needs (also used by ``qa eval --cv``)."""
        k = self._check_k(k)
        q = clean_question(question, self.settings.max_question_chars)
        searcher = self.searcher()
        passages, ev = searcher.search_with_evidence(q, max(k, TOP_PASSAGES))
        question_ = Question(q, ev.lang, ev.terms, searcher.question_places(q, ev.lang),
                             translate=searcher.bridge.words_for)
        contexts = [re.sub(r"\s+", "", f"{p.title}{p.section}{p.text}") for p in passages[:TOP_PASSAGES]]
        top = ev.ranked[0][2] if ev.ranked else 0.0
        code, reason = abstain_reason(q, searcher.corpus_squashed, searcher.unknown_places(q, ev.lang),
                                      ev.coverage, top, self.settings.abstain_threshold, contexts)
        return Inspection(question_, passages, k, searcher.sentence_sim(ev.qvec), code, reason, contexts, top,
                          ev.coverage)

    def ask(self, question: str, k: int | None = None) -> Answer:
        """The best answer span with its sentence and passage; see ``Answer.status``."""
        out = self.inspect(question, k)
        q, shown = out.question, out.passages[:out.k]
        if out.code:
            return Answer(q.text, None, None, None, shown, reason=out.reason, reason_code=out.code,
                          kind=q.kind)
        sents = sentences_of(out.passages, [p.score for p in out.passages], self.searcher().texts,
                             out.sentence_sim)
        model = load_model()
        r = read(model, q, sents)
        if r.sentence is None:
            return Answer(q.text, None, None, None, shown, reason=REASONS["not_close"], reason_code="not_close",
                          kind=q.kind)
        s = r.sentence
        if model.abstain is not None and r.text is not None:
            sig = with_choice(signals(q, out.contexts, out.top_dense, out.coverage, sents), r.confidence,
                              r.margin, r.x)
            if model.abstain.p(sig) >= model.abstain.threshold:
                return Answer(q.text, None, None, None, shown, reason=REASONS["unsupported"],
                              reason_code="unsupported", kind=q.kind)
        confident = r.text is not None and r.confidence >= model.threshold
        return Answer(q.text, r.text if confident else None, s.text, s.passage, shown,
                      confidence=round(r.confidence, 3), start=r.start, end=r.end, sentence_start=s.start,
                      sentence_end=s.end, status="answer" if confident else "sentence", span=r.text,
                      kind=q.kind)

    def _check_k(self, k) -> int:
        return check_k(self.settings.k if k is None else k)


def _file_stats(paths) -> dict[str, list[int]]:
    out = {}
    for p in paths:
        try:
            st = p.stat()
        except OSError:
            continue
        out[p.name] = [st.st_size, st.st_mtime_ns]
    return out


def _reusable_vectors(old: StoredIndex | None, want: dict) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """(chunk vectors, sentence vectors) of the old generation by document hash,
    when it was built with the same model and chunking."""
    if old is None or old.manifest.get("model") != want["model"] \
            or old.manifest.get("chunking") != want["chunking"]:
        return {}
    chunk_rows: dict[str, list[int]] = {}
    for i, c in enumerate(old.chunks):
        chunk_rows.setdefault(c.doc, []).append(i)
    sent_rows: dict[str, list[int]] = {}
    for i, (doc, _, _) in enumerate(old.extras.get("sentences", [])):
        sent_rows.setdefault(doc, []).append(i)
    sent_vecs = old.extras.get("sentence_vectors")
    if sent_vecs is None:
        return {}
    files = old.manifest.get("files", {})
    return {files[name]: (old.vectors[rows], sent_vecs[sent_rows.get(name, [])])
            for name, rows in chunk_rows.items() if name in files}
