"""Ingestion: user files -> cleaned corpus documents -> one incremental build.

``add_files`` takes files or folders (.txt, .md, .pdf, .docx, .html/.htm),
converts each to text, cleans it once with :func:`corpus.normalise`, writes it
into ``corpus/`` as a ``.md`` with front matter (atomically: temp file +
``os.replace``), then runs ONE ``Engine.build()`` for the batch, which embeds
only the new documents. ``remove_document`` deletes one corpus file and
rebuilds (nothing is re-embedded). ``list_documents`` describes the corpus.

Bad input never breaks anything: every check (allowed folder, size, encoding,
binary content, damaged or encrypted PDF, no text, duplicate content) runs
before a byte is written, each rejected file gets a ``FileResult`` with a
message a person can act on, and the rest of the batch still goes in. If the
build itself fails, the files this batch wrote are taken out again, so the
corpus and the index stay in step. A crash (even SIGKILL) leaves at worst
complete new corpus files that the next ``Engine.index()`` picks up with a
rebuild; the index itself is swapped copy-on-write by :mod:`qa.index`.

The package: :mod:`.paths` (which paths may be added), :mod:`.convert` (one
module per format, :mod:`.encoding` for text files), :mod:`.titles`,
:mod:`.store` (names, lock, atomic writes), :mod:`.messages` (errors without
server paths). The add/remove/list workflow lives here, and looks up
``convert_file`` and ``_write_atomic`` in this module, so a test or caller
that replaces ``qa.ingest.convert_file`` or ``qa.ingest._write_atomic`` is heard.
"""
from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path

from tqdm import tqdm

from .. import chunking, corpus
from ..errors import IngestError
from ..fsutil import fsync_dir
from .convert import CONVERTERS, FORMATS, convert_file
from .convert.docx import DOCX_MAX_RATIO, DOCX_MAX_UNPACKED_MB, DOCX_RATIO_MIN_MB
from .convert.html import MAX_HTML_DEPTH, html_depth
from .encoding import decode_text
from .messages import _public_error
from .model import FileResult, _content_key, _Converted
from .paths import _expand, allowed_roots, check_path
from .sandbox import run_bounded
from .store import _indexed, _ingest_lock, _sweep_temp_files, _unique_name, _write_atomic, slugify
from .titles import _city_of

__all__ = ["CONVERTERS", "DOCX_MAX_RATIO", "DOCX_MAX_UNPACKED_MB", "DOCX_RATIO_MIN_MB", "FORMATS",
           "MAX_HTML_DEPTH", "FileResult", "add_files", "allowed_roots", "check_path", "convert_file",
           "decode_text", "html_depth", "list_documents", "remove_document", "slugify"]

logger = logging.getLogger(__name__)


# ---- public API -----------------------------------------------------------

def add_files(engine, paths: list[Path | str], *, progress: bool = True) -> list[FileResult]:
    """Add files and folders (recursively) to the corpus, then build the index once.

    Returns one ``FileResult`` per file, in input order. Rejected files leave
    the corpus and index untouched; the good ones in the same batch still go in.
    """
    settings = engine.settings
    corpus_dir = Path(settings.corpus_dir)
    roots = allowed_roots(settings)
    items: list[FileResult | tuple[str, Path]] = []
    for raw in ([paths] if isinstance(paths, (str, Path)) else list(paths)):
        items.extend(_expand(raw, roots))

    results: list[FileResult | None] = [None] * len(items)
    converted: list[tuple[int, _Converted]] = []
    todo = [(i, it) for i, it in enumerate(items) if not isinstance(it, FileResult)]
    for i, it in enumerate(items):
        if isinstance(it, FileResult):
            results[i] = it
    bar = tqdm(todo, desc="reading", unit="file", delay=1.0, disable=not progress or len(todo) < 2)
    for i, (display, path) in bar:
        try:
            doc = run_bounded(convert_file, (path, settings), {"display": display, "progress": progress},
                              memory_mb=settings.convert_memory_mb, timeout_s=settings.convert_timeout_s)
            converted.append((i, doc))
        except IngestError as exc:
            results[i] = FileResult(display, False, str(exc))
        except Exception as exc:  # a parser choking on a hostile file is the file's fault
            logger.debug("converter crashed on %s", path, exc_info=True)
            results[i] = FileResult(display, False,
                                    f"could not read this file ({type(exc).__name__}: {_public_error(exc)})")

    written: list[tuple[int, Path]] = []
    if converted:
        corpus_dir.mkdir(parents=True, exist_ok=True)
        with _ingest_lock(settings):
            _sweep_temp_files(corpus_dir)
            existing = corpus.load_corpus(corpus_dir)
            seen = {key: d.name for d in existing for key in (d.sha256, _content_key(d.body))}
            taken = {p.stem.lower() for p in corpus_dir.iterdir()}
            _, indexed = _indexed(engine)
            before = frozenset(d.name for d in existing)
            unindexed: list[int] = []  # in the corpus but not the index (an interrupted add): this build
            try:
                for i, doc in converted:
                    res, path = _place(doc, corpus_dir, settings, seen, taken, indexed, before)
                    results[i] = res
                    if path is not None:
                        written.append((i, path))
                    elif res.ok:
                        unindexed.append(i)
            except BaseException as exc:  # disk full, permissions: take back this batch's files
                for _, path in written:
                    path.unlink(missing_ok=True)
                if isinstance(exc, OSError):
                    raise IngestError("could not write into the corpus, so nothing was added "
                                      f"({_public_error(exc)})") from exc
                raise
            if written:
                _build_or_roll_back(engine, written, results, progress)
            elif unindexed:
                try:
                    engine.build(progress=progress)
                except Exception as exc:
                    for i in unindexed:
                        results[i] = FileResult(results[i].name, False,
                                                f"not indexed: indexing failed ({_public_error(exc)})")

    for res in results:
        if res is not None and not res.ok:
            logger.warning("not added: %s: %s", res.name, res.message)
    added = sum(1 for r in results if r is not None and r.ok)
    logger.info("added %d of %d file(s)", added, len(results))
    return [r for r in results if r is not None]


def remove_document(engine, name: str) -> FileResult:
    """Remove one corpus document and drop its vectors.

    ``name`` must match exactly (case matters): the corpus file name
    (``report.md``), its stem (``report``), or the name of the file the user
    added (front matter ``original``, e.g. ``Report.txt``). A name that fits
    more than one document removes nothing. The message names what went.
    """
    settings = engine.settings
    corpus_dir = Path(settings.corpus_dir)
    name = str(name or "").strip()
    if not name or name in (".", "..") or any(ch in name for ch in "/\\\x00"):
        return FileResult(name, False, "give a document name as shown by `qa list` (no folders)")
    with _ingest_lock(settings):
        files = corpus.corpus_files(corpus_dir)
        match = [p for p in files if p.name == name] or [p for p in files if p.stem == name]
        docs: dict[Path, corpus.Document] = {}
        if not match:  # the name of the file that was added
            for p in files:
                try:
                    docs[p] = corpus.load_document(p)
                except (OSError, UnicodeDecodeError):
                    continue
            match = [p for p, d in docs.items() if str(d.meta.get("original") or "") == name]
        if not match:
            low = name.lower()
            near = sorted(p.name for p in files if low in (p.name.lower(), p.stem.lower(),
                                                           str(docs[p].meta.get("original") or "").lower()
                                                           if p in docs else ""))
            hint = f"; did you mean {', '.join(near)}? (names are case-sensitive)" if near else " (see `qa list`)"
            return FileResult(name, False, f"no document named {name!r} in the corpus{hint}")
        if len(match) > 1:
            names = ", ".join(p.name for p in match)
            return FileResult(name, False, f"{name!r} matches several documents ({names}); give the full name")
        path = match[0]
        try:
            doc = docs.get(path) or corpus.load_document(path)
        except (OSError, UnicodeDecodeError):  # an unreadable file can still be removed
            doc = None
        chunks = _indexed(engine)[0].get(path.name)
        if chunks is None:
            chunks = len(chunking.chunk_document(doc, settings.chunk_size, settings.chunk_overlap)) if doc else 0
        saved = path.read_bytes()
        path.unlink()
        fsync_dir(corpus_dir)
        try:
            engine.build(progress=False)
        except BaseException:
            # put it back so corpus and index stay in step
            _write_atomic(path, saved)
            raise
    original = str(doc.meta.get("original") or "") if doc else ""
    what = f"\u201c{doc.title if doc else path.stem}\u201d"
    if original and original != path.name:
        what += f", added from {original}"
    logger.info("removed %s (%d chunks)", path.name, chunks)
    return FileResult(path.name, True, f"removed {path.name} ({what}; {chunks} chunks)", chunks=chunks)


def list_documents(engine) -> list[dict]:
    """name, title, city, year, chunks, chars (body characters), sha256 for each corpus document."""
    settings = engine.settings
    counts, files = _indexed(engine)
    out = []
    for doc in corpus.load_corpus(Path(settings.corpus_dir)):
        n = counts.get(doc.name) if files.get(doc.name) == doc.sha256 else None
        if n is None:  # not indexed yet (or the index is stale): what the next build will make
            n = len(chunking.chunk_document(doc, settings.chunk_size, settings.chunk_overlap))
        out.append({"name": doc.name, "title": doc.title, "city": doc.city, "year": doc.year, "chunks": n,
                    "chars": len(doc.body), "sha256": doc.sha256})
    return out


# ---- writing and building ---------------------------------------------------

def _place(doc: _Converted, corpus_dir: Path, settings, seen: dict, taken: set,
           indexed: dict | None = None, before: frozenset = frozenset()) -> tuple[FileResult, Path | None]:
    """Write one converted document into the corpus (caller holds the ingest lock).

    ``indexed`` (name -> sha256 of the live index) and ``before`` (names in the corpus before
    this batch) tell a document that is already in the corpus and indexed from one an
    interrupted add wrote but never indexed: that one is reported as going in now, and the
    batch's build indexes it."""
    dup = next((seen[k] for k in doc.keys if k in seen), None)
    if dup is not None:
        if indexed is not None and dup not in indexed and dup in before:
            return FileResult(doc.display, True, f"already in the corpus as {dup} but not yet indexed "
                                                 "(an interrupted add?); indexed now"), None
        return FileResult(doc.display, False, f"already in the corpus as {dup}"), None
    meta = {k: v for k, v in doc.meta.items() if k not in ("title", "original", "added", "format")}
    city = str(meta.pop("city", "") or "") or _city_of(doc.title)
    meta = {"title": doc.title, "city": city, **meta, "original": doc.original,
            "added": datetime.now().astimezone().isoformat(timespec="seconds"), "format": doc.fmt}
    text = corpus.render(meta, doc.body)
    name = _unique_name(Path(doc.original).stem, taken)
    path = corpus_dir / name
    front, start = corpus.split_front_matter(text)
    candidate = corpus.Document(name=name, path=path, text=text, body_start=start, meta=front)
    n = len(chunking.chunk_document(candidate, settings.chunk_size, settings.chunk_overlap))
    if n == 0:
        return FileResult(doc.display, False, "the file has no text to index (only headings?)"), None
    _write_atomic(path, text.encode("utf-8"))
    seen.update({k: name for k in doc.keys})
    logger.info("wrote %s from %s (%s, %d chunks)", name, doc.display, doc.fmt, n)
    return FileResult(doc.display, True, f"added as {name}", chunks=n), path


def _build_or_roll_back(engine, written: list[tuple[int, Path]], results: list, progress: bool) -> None:
    try:
        engine.build(progress=progress)
    except BaseException as exc:
        for _, path in written:
            path.unlink(missing_ok=True)
        fsync_dir(written[0][1].parent)
        for i, _ in written:
            results[i] = FileResult(results[i].name, False, f"not added: indexing failed ({_public_error(exc)})")
        if isinstance(exc, Exception):
            raise IngestError("indexing failed, so nothing was added "
                              f"({type(exc).__name__}: {_public_error(exc)})") from exc
        raise
    counts, _ = _indexed(engine)
    for i, path in written:
        n = counts.get(path.name)
        if n is None:
            logger.warning("%s is not in the new index generation", path.name)
        else:
            results[i].chunks = n
            results[i].message = f"added as {path.name} ({n} chunks)"
