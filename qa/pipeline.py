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
from collections import OrderedDict
from dataclasses import dataclass, replace

from . import chunking, corpus
from .embedding import Encoder, make_encoder
from .errors import NoMatchingDocuments
from .build import BuildReport, IndexBuilder
from .index import IndexStore, StoredIndex
from .answer import abstain_reason
from .ranker import Question, load_model
from .reader import TOP_PASSAGES, lead_with, read, sentences_of, signals, with_choice
from .retrieve import HybridSearcher, check_k, clean_question
from .schema import REASONS, Answer, Passage
from .settings import Settings
from .store import mirror
from .store.base import check_where

logger = logging.getLogger(__name__)

# Bump when what a build derives (extras, vectors' inputs) changes shape or meaning.
PIPELINE_VERSION = 11


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


class Engine:
    def __init__(self, settings: Settings | None = None, encoder: Encoder | None = None):
        self.settings = settings or Settings.from_env()
        self.encoder = encoder or make_encoder(self.settings.encoder, self.settings.model_dir,
                                                threads=self.settings.encoder_threads)
        self.store = IndexStore(self.settings.index_dir)
        self._index: StoredIndex | None = None
        self._searcher = None
        self._spans = None
        self._lock = threading.RLock()
        self._cache: OrderedDict[tuple, list[Passage]] = OrderedDict()
        self._remote = None

    # ---- index lifecycle ---------------------------------------------------

    def recipe(self) -> dict:
        """What vectors and chunks depend on besides the documents: another recipe means a full rebuild."""
        return {"model": self.encoder.fingerprint(), "chunking": self.settings.chunking_fingerprint(),
                "pipeline": PIPELINE_VERSION}

    def same_recipe(self, manifest: dict | None) -> bool:
        return isinstance(manifest, dict) and all(manifest.get(k) == v for k, v in self.recipe().items())

    def expected_manifest(self, docs: list[corpus.Document]) -> dict:
        return {**self.recipe(), "files": {d.name: d.sha256 for d in docs}}

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
        if not isinstance(stats, dict) or not self.same_recipe(manifest):
            return False
        return corpus.corpus_stats(self.settings.corpus_dir) == stats

    def build(self, force: bool = False, progress: bool = True) -> BuildReport | None:
        """Bring the index in line with corpus/ (a diff: only new or changed documents are
        embedded). Returns None when it already was."""
        with self.store.lock:
            held = self._index
            # the index this engine holds is the live one unless another process swapped it
            old = held if held is not None and held.generation == self.store.current() else self.store.load()
            report = IndexBuilder(self).run(old, force, progress)
            live = None
            if self.settings.store == "milvus":
                live = old if report is None else self.store.load()
                if live is not None:
                    if report is None:  # up to date here; the remote store may not be (a killed sync)
                        mirror.sync(self.remote(), live, self.settings.index_dir)
                    else:
                        mirror.sync(self.remote(), live, self.settings.index_dir, report.base,
                                    report.new_docs, report.gone)
        if report is None:
            return None
        with self._lock:
            if live is not None:  # loaded for the sync already: serve it
                self._adopt(live)
            else:
                self._index = None  # reload lazily
                self._cache.clear()
        logger.info("built %s: %d docs, %d chunks, %d embedded, %d rows written in %.1fs",
                    report.generation, report.documents, report.chunks, report.embedded,
                    report.rows_written, report.seconds)
        return report

    def remote(self):
        """The Milvus store dense search runs in (QA_STORE=milvus), opened on first use."""
        with self._lock:
            if self._remote is None:
                self._remote = mirror.open_store(self.settings, self.encoder.dim)
            return self._remote

    def passage_text(self, chunk: chunking.Chunk) -> str:
        return f"{chunk.title}\n{chunk.text}" if self.settings.embed_title else chunk.text

    def index(self) -> StoredIndex:
        """The live index, built on first use and refreshed when another process swaps it."""
        with self._lock:
            live = self.store.current()
            if self._index is not None and self._index.generation == live:
                return self._index
            loaded = self.store.load()
            # built here only when there is nothing usable to serve: an index from another model
            # or chunking, or none. Documents added since (an interrupted add) are finished by the
            # next build or add, never inside a question.
            if loaded is None or not self.same_recipe(loaded.manifest):
                self.build()
                loaded = self.store.load()
            elif self.is_stale(loaded.manifest):
                logger.warning("corpus/ has changed since the index was built; answering from the "
                               "index as it is (run `qa build` to bring it up to date)")
            if loaded is None:
                raise RuntimeError("the index could not be built")
            if self.settings.store == "milvus" and \
                    mirror.synced(self.settings.index_dir).get("generation") != loaded.generation:
                logger.warning("the Milvus collection is not in step with index generation %s "
                               "(run `qa build`)", loaded.generation)
            return self._adopt(loaded)

    def _adopt(self, loaded: StoredIndex) -> StoredIndex:
        """Serve ``loaded`` from now on (searching the remote store with QA_STORE=milvus)."""
        if self.settings.store == "milvus":
            loaded.ann = self.remote()
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
        """Bring the index up to date and load model and index now, rather than on the first question."""
        self.build(progress=False)
        self.searcher().search("warm up", 1)
        if self.spans() is not None:  # ~1 s: beside serving, not before (a question waits for it)
            threading.Thread(target=self.spans().use, name="span-model-load", daemon=True).start()

    def spans(self):
        """The span model (``qa/spans.py``), loaded on first use; None when settings turn it off."""
        if not self.settings.span_model:
            return None
        with self._lock:
            if self._spans is None:
                from .spans import SpanModel
                self._spans = SpanModel(self.settings.model_dir, threads=self.settings.encoder_threads,
                                        runtime="onnx")
        return self._spans

    # ---- queries -------------------------------------------------------------

    def retrieve(self, question: str, k: int | None = None, where: dict | None = None) -> list[Passage]:
        """The ``k`` best passages, searched among the chunks matching ``where`` (for example
        ``{"doc": "report.md"}``, ``{"city": "宁波"}``, ``{"year": 2023}``) when given."""
        k = self._check_k(k)
        where = check_where(where)
        q = clean_question(question, self.settings.max_question_chars)
        searcher = self.searcher()
        self._check_scope(searcher, where)
        key = (searcher.index.generation, q, k, tuple(sorted(where.items())))
        if self.settings.query_cache:
            with self._lock:
                hit = self._cache.get(key)
                if hit is not None:
                    self._cache.move_to_end(key)
                    return list(hit)
        passages = searcher.search(q, k, where)
        if self.settings.query_cache:
            with self._lock:
                self._cache[key] = passages
                while len(self._cache) > self.settings.query_cache:
                    self._cache.popitem(last=False)
        return passages

    def inspect(self, question: str, k: int | None = None, where: dict | None = None) -> "Inspection":
        """One search with everything the answer stage needs (also used by ``qa eval --cv``)."""
        k = self._check_k(k)
        where = check_where(where)
        q = clean_question(question, self.settings.max_question_chars)
        searcher = self.searcher()
        self._check_scope(searcher, where)
        passages, ev = searcher.search_with_evidence(q, max(k, TOP_PASSAGES), where)
        question_ = Question(q, ev.lang, ev.terms, searcher.question_places(q, ev.lang),
                             translate=searcher.bridge.words_for)
        contexts = [re.sub(r"\s+", "", f"{p.title}{p.section}{p.text}") for p in passages[:TOP_PASSAGES]]
        top = ev.ranked[0][2] if ev.ranked else 0.0
        code, reason = abstain_reason(q, searcher.corpus_years, searcher.unknown_places(q, ev.lang),
                                      ev.coverage, top, self.settings.abstain_threshold, contexts)
        return Inspection(question_, passages, k, searcher.sentence_sim(ev.qvec), code, reason, contexts, top,
                          ev.coverage)

    def ask(self, question: str, k: int | None = None, where: dict | None = None) -> Answer:
        """The best answer span with its sentence and passage; see ``Answer.status``. ``where``
        limits the search as in :meth:`retrieve`."""
        out = self.inspect(question, k, where)
        q, shown = out.question, out.passages[:out.k]
        if out.code:
            return Answer(q.asked, None, None, None, shown, reason=out.reason, reason_code=out.code,
                          kind=q.kind)
        sents = sentences_of(out.passages, [p.score for p in out.passages], self.searcher().texts,
                             out.sentence_sim)
        model = load_model()
        r = read(model, q, sents, self.spans(), self.searcher().texts)
        if r.sentence is None:
            return Answer(q.asked, None, None, None, shown, reason=REASONS["not_close"], reason_code="not_close",
                          kind=q.kind)
        s = r.sentence
        if model.abstain is not None and r.text is not None:
            sig = with_choice(signals(q, out.contexts, out.top_dense, out.coverage, sents, r.span_best), r.confidence,
                              r.margin, r.x)
            if model.abstain.p(sig) >= model.abstain.threshold:
                return Answer(q.asked, None, None, None, shown, reason=REASONS["unsupported"],
                              reason_code="unsupported", kind=q.kind)
        confident = r.text is not None and r.confidence >= model.threshold
        # the passage the answer was read from leads; ranks count the order shown
        shown = [replace(p, rank=i) for i, p in enumerate(lead_with(out.passages, s.passage_rank)[:out.k], 1)]
        return Answer(q.asked, r.text if confident else None, s.text, shown[0], shown,
                      confidence=round(r.confidence, 3), start=r.start, end=r.end, sentence_start=s.start,
                      sentence_end=s.end, status="answer" if confident else "sentence", span=r.text,
                      kind=q.kind)

    @staticmethod
    def _check_scope(searcher, where: dict) -> None:
        """A filter that matches nothing is a mistake to report, not an empty answer."""
        if where and not searcher.in_scope(where).any():
            what = ", ".join(f"{key} {value!r}" for key, value in where.items())
            raise NoMatchingDocuments(f"no indexed document matches {what} "
                                      "(see `qa list` for names, cities and years)")

    def _check_k(self, k) -> int:
        return check_k(self.settings.k if k is None else k)
