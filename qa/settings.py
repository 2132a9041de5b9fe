"""All the knobs in one place.

Every field can be overridden from the environment as ``QA_<FIELD>`` (upper
case), so the CLI, the app and the tests share one source of truth.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from dataclasses import dataclass, field, fields
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STORES = ("faiss", "milvus")


def cache_dir() -> Path:
    """Derived files kept outside git: the converted model, jieba's parsed dictionary."""
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "qa"


def _default_model_dir() -> Path:
    return cache_dir() / "multilingual-e5-small-st"


@dataclass(frozen=True)
class Settings:
    # where things live
    corpus_dir: Path = ROOT / "corpus"
    index_dir: Path = ROOT / "index"
    model_dir: Path = field(default_factory=_default_model_dir)

    # embedding: onnx (onnxruntime, no torch) or st (sentence-transformers, the reference)
    encoder: str = "onnx"
    encoder_threads: int = 0  # onnxruntime intra-op threads; 0 = one per core

    # chunking (characters; sentences are never cut unless longer than chunk_size)
    chunk_size: int = 200
    chunk_overlap: int = 60
    embed_title: bool = False  # measured: title in front of the text hurt zh R@1

    # retrieval
    k: int = 5
    candidates: int = 50  # per-signal candidate pool before fusion
    index_type: str = "auto"  # auto | flat | hnsw | ivf
    auto_flat_max: int = 10_000  # auto: exact search up to this many vectors, HNSW beyond
    hnsw_m: int = 32
    hnsw_ef_search: int = 128  # recall@10 .95-.99 at 100k-300k e5-like vectors (bench/bench.py)
    query_cache: int = 256  # LRU entries for repeated questions; 0 disables

    # where dense search and filters run: faiss (in process) or milvus (a server, or Milvus Lite
    # for a local *.db path; pip install -e '.[milvus]'). Texts, sentences and BM25 stay in index/.
    store: str = "faiss"
    milvus_uri: str = ""  # "" = Milvus Lite in index_dir/milvus.db; or http://host:19530
    milvus_token: str = ""
    milvus_collection: str = "qa_chunks"  # an alias: a rebuild fills a new collection, then moves it

    # answering
    # the span model (qa/spans.py) reads question and passage together and scores candidate
    # spans for the answer ranker; off: faster (no torch at question time), the ranker's
    # span features read as "no opinion"
    span_model: bool = True
    # best passage cosine below this: "not in these documents" (a floor for off-topic questions,
    # set before the pool existed; on the pool's 274 answerable questions it wrongly fires on 2)
    abstain_threshold: float = 0.74

    # input limits
    max_question_chars: int = 1000
    max_file_mb: float = 50.0
    # every converter runs in a child process with these bounds (qa/ingest/sandbox.py)
    convert_memory_mb: float = 2048.0
    convert_timeout_s: float = 120.0
    allowed_upload_dirs: tuple[str, ...] = ()  # extra roots `qa add` may read from

    # serving
    host: str = "127.0.0.1"
    port: int = 7860

    def __post_init__(self):
        if self.store not in STORES:
            raise ValueError(f"unknown store {self.store!r} (QA_STORE: {' or '.join(STORES)})")

    @classmethod
    def from_env(cls, **overrides) -> "Settings":
        values = {}
        for f in fields(cls):
            raw = os.environ.get(f"QA_{f.name.upper()}")
            if raw is None:
                continue
            values[f.name] = _coerce(f, raw)
        values.update(overrides)
        return cls(**values)

    def replace(self, **changes) -> "Settings":
        return dataclasses.replace(self, **changes)

    def chunking_fingerprint(self) -> str:
        """Changes whenever a knob that shapes the stored chunks changes."""
        knobs = {"chunk_size": self.chunk_size, "chunk_overlap": self.chunk_overlap,
                 "embed_title": self.embed_title, "chunker": CHUNKER_VERSION}
        return hashlib.sha256(json.dumps(knobs, sort_keys=True).encode()).hexdigest()[:16]


# Bump when chunking code changes in a way that alters stored chunks.
CHUNKER_VERSION = 2


def _coerce(f: dataclasses.Field, raw: str):
    kind = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
    if "Path" in kind:
        return Path(raw).expanduser()
    if kind == "bool":
        return raw.strip().lower() in {"1", "true", "yes", "on"}
    if kind == "int":
        return int(raw)
    if kind == "float":
        return float(raw)
    if kind.startswith("tuple"):
        return tuple(p for p in raw.split(os.pathsep) if p)
    return raw
