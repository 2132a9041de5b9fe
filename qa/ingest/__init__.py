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
"""
from __future__ import annotations

import errno
import hashlib
import io
import logging
import os
import re
import stat
import tempfile
import unicodedata
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path

from filelock import FileLock
from tqdm import tqdm

from .. import chunking, corpus
from ..errors import IngestError
from ..fsutil import fsync_dir, write_atomic
from .encoding import decode_text

logger = logging.getLogger(__name__)

# extension -> the ``format`` recorded in front matter
FORMATS = {".txt": "txt", ".md": "md", ".pdf": "pdf", ".docx": "docx", ".html": "html", ".htm": "html"}
_TEMP_PREFIX = ".ingest-"
_LOCK_NAME = ".ingest.lock"
_MAX_SLUG = 60
_CJK_CHAR = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_WORD = re.compile(r"[\w\u3400-\u9fff]", re.UNICODE)


@dataclass
class FileResult:
    """What happened to one input file (``add_files``) or document (``remove_document``).

    ``name`` is the input file's name (``folder/sub/file.pdf`` for files found in
    a folder) for adds, and the corpus file name for removals.
    """
    name: str
    ok: bool
    message: str
    chunks: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class _Converted:
    """One input file turned into a corpus document, not yet written."""
    display: str
    source: Path
    original: str  # the file name the user gave (a link keeps its own name)
    fmt: str
    title: str
    body: str
    meta: dict = field(default_factory=dict)
    keys: tuple[str, ...] = ()  # content hashes that make another document a duplicate of this one


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
            converted.append((i, convert_file(path, settings, display=display, progress=progress)))
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
            try:
                for i, doc in converted:
                    res, path = _place(doc, corpus_dir, settings, seen, taken)
                    results[i] = res
                    if path is not None:
                        written.append((i, path))
            except BaseException as exc:  # disk full, permissions: take back this batch's files
                for _, path in written:
                    path.unlink(missing_ok=True)
                if isinstance(exc, OSError):
                    raise IngestError("could not write into the corpus, so nothing was added "
                                      f"({_public_error(exc)})") from exc
                raise
            if written:
                _build_or_roll_back(engine, written, results, progress)

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
    """name, title, city, chunks, chars (body characters), sha256 for each corpus document."""
    settings = engine.settings
    counts, files = _indexed(engine)
    out = []
    for doc in corpus.load_corpus(Path(settings.corpus_dir)):
        n = counts.get(doc.name) if files.get(doc.name) == doc.sha256 else None
        if n is None:  # not indexed yet (or the index is stale): what the next build will make
            n = len(chunking.chunk_document(doc, settings.chunk_size, settings.chunk_overlap))
        out.append({"name": doc.name, "title": doc.title, "city": doc.city, "chunks": n,
                    "chars": len(doc.body), "sha256": doc.sha256})
    return out


# ---- paths ------------------------------------------------------------------

def allowed_roots(settings) -> list[Path]:
    """Folders files may be added from: cwd, home, the temp dir, and Settings.allowed_upload_dirs.

    The filesystem root is never a root (a server started in ``/`` must not
    serve ``/etc``).
    """
    candidates = []
    for get in (Path.cwd, Path.home, lambda: Path(tempfile.gettempdir())):
        try:
            candidates.append(get())
        except (OSError, RuntimeError, KeyError):
            pass
    candidates += [Path(p).expanduser() for p in settings.allowed_upload_dirs if str(p).strip()]
    roots = []
    for root in candidates:
        try:
            root = root.resolve()
        except (OSError, RuntimeError, ValueError):
            continue
        if root == Path(root.anchor):
            logger.warning("ignoring %s as an upload folder: it is the filesystem root", root)
            continue
        if root not in roots:
            roots.append(root)
    return roots


def check_path(raw: Path | str, roots: list[Path]) -> Path:
    """The resolved path if it exists inside an allowed root, else ``IngestError``."""
    try:
        given = Path(os.fspath(raw)).expanduser()
        resolved = given.resolve(strict=True)
    except FileNotFoundError:
        raise IngestError("no such file or folder") from None
    except (OSError, RuntimeError, ValueError) as exc:  # loops, NUL bytes, permissions
        why = "a symbolic link loop" if isinstance(exc, RuntimeError) else _public_error(exc)
        raise IngestError(f"cannot open this path ({why})") from None
    if not any(resolved.is_relative_to(r) for r in roots):
        how = " (it escapes with '..')" if ".." in given.parts else \
              " (a link pointing elsewhere)" if given.absolute().is_symlink() else ""
        raise IngestError(f"outside the folders files may be added from{how}: the current folder, "
                          "your home folder, the temp folder, or QA_ALLOWED_UPLOAD_DIRS")
    return resolved


def _expand(raw, roots: list[Path]) -> list[FileResult | tuple[str, Path]]:
    """(display name, resolved path) for each file under ``raw``; FileResults for bad paths."""
    display = Path(os.fspath(raw)).name or str(raw)
    try:
        path = check_path(raw, roots)
    except IngestError as exc:
        return [FileResult(display, False, str(exc))]
    if not path.is_dir():
        return [(display, path)]
    out: list[FileResult | tuple[str, Path]] = []
    for dirpath, dirnames, filenames in os.walk(path):  # symlinked folders are not followed
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for fn in sorted(filenames):
            if fn.startswith("."):
                continue
            child = Path(dirpath) / fn
            shown = f"{path.name}/{child.relative_to(path).as_posix()}"
            try:
                out.append((shown, check_path(child, roots)))
            except IngestError as exc:
                out.append(FileResult(shown, False, str(exc)))
    if not out:
        return [FileResult(display, False, "the folder has no files to add")]
    return out


# ---- conversion -------------------------------------------------------------

def convert_file(path: Path, settings, *, display: str | None = None, progress: bool = False) -> _Converted:
    """Read, convert and clean one file; ``IngestError`` says why a file can't go in."""
    display = display or path.name
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        kind = path.suffix.lower() or "(no extension)"
        hint = "; save it as .docx" if kind == ".doc" else ""
        raise IngestError(f"unsupported file type {kind}{hint} (supported: {', '.join(sorted(FORMATS))})")
    data = _read_capped(path, settings.max_file_mb)
    meta: dict = {}
    if fmt in ("txt", "md"):
        text, encoding = decode_text(data)
        if encoding != "utf-8":
            logger.info("%s: decoded as %s", display, encoding)
        text = text.replace("\r\n", "\n").replace("\r", "\n")
        try:
            meta, start = corpus.split_front_matter(text, strict=True)
        except corpus.UnsafeFrontMatter as exc:
            raise IngestError(f"refusing this file's front matter: {exc}") from None
        text = text[start:]
        title = str(meta.get("title") or "").strip() or None
    elif fmt == "pdf":
        text, title = _pdf_text(data, display, progress)
    elif fmt == "docx":
        text, title = _docx_text(data)
    else:
        text, title = _html_text(data)
    text = _strip_controls(text)
    if not _WORD.search(text):
        what = {"pdf": "this PDF has no extractable text (scanned pages? OCR is not supported)",
                "html": "this page has no text outside scripts, styles and navigation"}.get(fmt)
        raise IngestError(what or "the file has no text")
    body = corpus.normalise(text)
    title, title_from = _pick_title(title, body, path.stem)
    final = _with_heading(body, title, title_from)
    # the file itself, the text as written, the text before a heading was added (a corpus file re-added)
    keys = (hashlib.sha256(data).hexdigest(), _content_key(final), _content_key(body))
    return _Converted(display, path, Path(display).name, fmt, title, final, meta, keys)


def _read_capped(path: Path, max_mb: float) -> bytes:
    cap = int(max_mb * 1024 * 1024)
    try:
        st = path.stat()
        if not stat.S_ISREG(st.st_mode):
            raise IngestError("not a regular file")
        if st.st_size > cap:
            raise IngestError(f"the file is {_size(st.st_size)}, over the {max_mb:g} MB limit (QA_MAX_FILE_MB)")
        with open(path, "rb") as fh:
            data = fh.read(cap + 1)
    except OSError as exc:
        raise IngestError(f"cannot read the file ({_public_error(exc)})") from None
    if len(data) > cap:  # it grew while we looked
        raise IngestError(f"the file is over the {max_mb:g} MB limit (QA_MAX_FILE_MB)")
    if not data.strip():
        raise IngestError("the file is empty")
    return data


def _pdf_text(data: bytes, display: str, progress: bool) -> tuple[str, str | None]:
    from pypdf import PdfReader

    try:
        reader = PdfReader(io.BytesIO(data))
        encrypted = reader.is_encrypted
    except Exception as exc:
        raise IngestError(f"cannot read this PDF; it looks damaged ({exc})") from None
    if encrypted:
        try:  # owner-password-only PDFs open with an empty user password
            opened = bool(reader.decrypt(""))
        except Exception:
            opened = False
        if not opened:
            raise IngestError("this PDF is encrypted (password-protected); save an unprotected copy and add that")
    pages = []
    try:
        for page in tqdm(reader.pages, desc=display, unit="page", delay=1.0, leave=False,
                         disable=not progress):
            pages.append(page.extract_text() or "")
    except Exception as exc:
        raise IngestError(f"cannot read the text of this PDF; it looks damaged ({exc})") from None
    title = None
    try:
        title = reader.metadata.title if reader.metadata else None
    except Exception:
        pass
    text = "\n\n".join(pages)
    # symbol fonts put bullets in the private-use area; mostly such characters means no usable text
    junk = sum(1 for ch in text if ch == "\ufffd" or unicodedata.category(ch) in ("Co", "Cn"))
    visible = sum(1 for ch in text if not ch.isspace())
    if visible and junk / visible > 0.3:
        raise IngestError("this PDF's text cannot be extracted (its fonts have no Unicode mapping)")
    if junk:
        text = "".join(ch for ch in text if ch != "\ufffd" and unicodedata.category(ch) not in ("Co", "Cn"))
    return text, title


DOCX_MAX_UNPACKED_MB = 200  # all members of a .docx together, unpacked
DOCX_MAX_RATIO = 100  # a member this much smaller packed than unpacked ...
DOCX_RATIO_MIN_MB = 10  # ... and at least this big unpacked is a zip bomb


def _check_zip(data: bytes) -> None:
    """Refuse a .docx whose members unpack to too much (a zip bomb), before any of it is read.

    The sizes are the ones the zip declares; :mod:`zipfile` (which python-docx
    reads through) never returns more than a member's declared size.
    """
    import zipfile

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            members = zf.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError) as exc:
        raise IngestError(f"cannot read this .docx; it looks damaged or is not a Word file ({exc})") from None
    total = 0
    mb = 1024 * 1024
    for info in members:
        total += info.file_size
        if total > DOCX_MAX_UNPACKED_MB * mb:
            raise IngestError(f"this .docx unpacks to more than {DOCX_MAX_UNPACKED_MB} MB "
                              "(a zip bomb?); it is refused rather than opened")
        if info.file_size > DOCX_RATIO_MIN_MB * mb and info.file_size > DOCX_MAX_RATIO * max(1, info.compress_size):
            ratio = info.file_size / max(1, info.compress_size)
            raise IngestError(f"this .docx has a part ({info.filename}) packed {ratio:.0f}:1, "
                              f"{_size(info.file_size)} unpacked (a zip bomb?); it is refused rather than opened")


def _docx_text(data: bytes) -> tuple[str, str | None]:
    import docx
    from docx.table import Table

    _check_zip(data)
    try:
        document = docx.Document(io.BytesIO(data))
    except Exception as exc:
        raise IngestError(f"cannot read this .docx; it looks damaged or is not a Word file ({exc})") from None
    lines = []
    for block in document.iter_inner_content():
        if isinstance(block, Table):
            for row in block.rows:
                cells = []
                for cell in row.cells:  # merged cells repeat: keep each once
                    text = " ".join(cell.text.split())
                    if text and (not cells or cells[-1] != text):
                        cells.append(text)
                if cells:
                    lines.append(" | ".join(cells))
            lines.append("")
            continue
        text = block.text.strip()
        if not text:
            lines.append("")
            continue
        try:
            style = (block.style.name or "") if block.style is not None else ""
        except Exception:
            style = ""
        m = re.match(r"(?i)heading\s*(\d)", style)
        if style.lower() == "title":
            lines.append("# " + " ".join(text.split()))
        elif m:  # the document title is level 1; Word's Heading 1 is a section
            lines.append("#" * min(6, int(m.group(1)) + 1) + " " + " ".join(text.split()))
        elif "list" in style.lower():
            lines.append("- " + text)
        else:
            lines.append(text)
        lines.append("")
    title = None
    try:
        title = document.core_properties.title or None
    except Exception:
        pass
    return "\n".join(lines), title


_HTML_DROP = ["script", "style", "noscript", "template", "nav", "footer", "iframe", "svg", "canvas",
               "form", "button", "select", "object", "embed"]
_HTML_BLOCKS = ["p", "div", "section", "article", "main", "header", "aside", "blockquote",
                "pre", "table", "ul", "ol", "dl", "dt", "dd", "figure", "figcaption", "address", "hr",
                "body", "center"]
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.I)
_CJK_EDGE = "\u3400-\u9fff\u3000-\u303f\uff00-\uffef"
_WRAP = re.compile(rf"(?<=[{_CJK_EDGE}])\s*\n\s*(?=[{_CJK_EDGE}])")


MAX_HTML_DEPTH = 1000  # elements open at once; real pages stay under ~100, parsing cost grows with depth
_HTML_VOID = frozenset("area base br col embed hr img input keygen link meta param source track wbr".split())
_HTML_RAW = ("script", "style", "textarea", "title", "xmp", "plaintext")
_HTML_TAG = re.compile(r"<!--|<(/?)([A-Za-z][A-Za-z0-9:_-]*)[^<>]*(>?)")
_HTML_RAW_END = {name: re.compile(rf"</{name}\b", re.I) for name in _HTML_RAW}


def html_depth(html: str, limit: int = MAX_HTML_DEPTH) -> int:
    """How deep elements nest in ``html`` as html.parser builds the tree, in one linear scan.

    Stops counting once ``limit`` is passed (the result is then ``limit + 1``).
    Void and self-closed tags open nothing, comments and raw-text elements
    (script, style, ...) are skipped, and an end tag closes its element and any
    left open inside it, or nothing when no such element is open (as bs4 does).
    """
    stack: list[str] = []
    open_count: dict[str, int] = {}
    pos, deepest = 0, 0
    while True:
        m = _HTML_TAG.search(html, pos)
        if m is None:
            return deepest
        if m.group(0) == "<!--":
            end = html.find("-->", m.end())
            if end < 0:
                return deepest
            pos = end + 3
            continue
        pos = m.end()
        if not m.group(3):  # "<a" with no ">" before the next tag is text to html.parser
            continue
        closing, name = m.group(1), m.group(2).lower()
        if closing:
            if open_count.get(name):
                while stack:
                    top = stack.pop()
                    open_count[top] -= 1
                    if top == name:
                        break
            continue
        if name in _HTML_VOID or m.group(0).endswith("/>"):
            continue
        if name in _HTML_RAW_END:
            end = _HTML_RAW_END[name].search(html, pos)
            if end is None:
                return deepest
            pos = end.start()
            continue
        stack.append(name)
        open_count[name] = open_count.get(name, 0) + 1
        if len(stack) > deepest:
            deepest = len(stack)
            if deepest > limit:
                return deepest


def _html_text(data: bytes) -> tuple[str, str | None]:
    from bs4 import BeautifulSoup, Comment, Declaration, Doctype, ProcessingInstruction

    html = None
    m = _META_CHARSET.search(data[:4096])
    if m:
        declared = m.group(1).decode("ascii").lower()
        declared = {"gb2312": "gb18030", "gbk": "gb18030", "big5": "cp950"}.get(declared, declared)
        try:
            html = data.decode(declared)
        except (LookupError, UnicodeDecodeError):
            html = None
    if html is None:
        html, _ = decode_text(data)
    if html_depth(html) > MAX_HTML_DEPTH:
        raise IngestError(f"this page nests its elements more than {MAX_HTML_DEPTH} levels deep, "
                          "which no real page does; it is refused rather than parsed")
    soup = BeautifulSoup(html, "html.parser")
    title = soup.title.get_text(" ", strip=True) if soup.title else None
    h1 = soup.find("h1")
    if not title and h1 is not None:
        title = h1.get_text(" ", strip=True)
    for tag in soup.find_all(["head", *_HTML_DROP]):
        tag.decompose()
    for tag in soup.find_all(attrs={"role": "navigation"}):
        tag.decompose()
    for node in soup.find_all(string=True):
        if isinstance(node, (Comment, Declaration, Doctype, ProcessingInstruction)):
            node.extract()
        elif node.find_parent("pre") is None:
            # source line breaks are spaces in HTML; between Chinese characters, nothing
            node.replace_with(re.sub(r"\s+", " ", _WRAP.sub("", str(node))))
    for br in soup.find_all("br"):
        br.replace_with("\n")
    for h in soup.find_all(re.compile(r"^h[1-6]$")):
        text = h.get_text(" ", strip=True)
        if text:
            h.replace_with(f"\n\n{'#' * int(h.name[1])} {text}\n\n")
        else:
            h.decompose()
    for tr in soup.find_all("tr"):
        cells = [c.get_text(" ", strip=True) for c in tr.find_all(["td", "th"])]
        tr.replace_with("\n" + " | ".join(c for c in cells if c) + "\n")
    for li in soup.find_all("li"):
        li.insert_before("\n- ")
        li.insert_after("\n")
    for tag in soup.find_all(_HTML_BLOCKS):
        tag.insert_before("\n\n")
        tag.insert_after("\n\n")
    lines = [" ".join(ln.split()) for ln in soup.get_text().split("\n")]
    return "\n".join(lines), title


def _strip_controls(text: str) -> str:
    """Line ends to \\n, page breaks to blank lines, other control characters dropped (\\t kept)."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\f", "\n\n")
    return "".join(ch for ch in text if ch in "\n\t" or unicodedata.category(ch) != "Cc")


# ---- titles and names -------------------------------------------------------

_JUNK_TITLES = re.compile(r"^(untitled|无标题|document\d*|microsoft word\s*-.*|slide \d+|\d+)$", re.I)


def _clean_title(title) -> str:
    title = " ".join(str(title or "").split()).strip().lstrip("#").strip()
    if not title or _JUNK_TITLES.match(title):
        return ""
    return title[:120]


def _pick_title(meta_title: str | None, body: str, stem: str) -> tuple[str, str]:
    """(title, where from): the document's own title, its first heading, a short first line, the name."""
    title = _clean_title(meta_title)
    if title:
        return title, "meta"
    lines = [ln.strip() for ln in body.splitlines() if ln.strip()]
    for ln in lines:
        if re.match(r"#{1,6}\s", ln):
            title = _clean_title(ln)
            if title:
                return title, "heading"
    if lines:
        first = lines[0]
        if len(first) <= 60 and first[-1] not in "。.!?！？；;：:，," and _WORD.search(first) \
                and not first.startswith(("-", "*", ">", "|")):
            return _clean_title(first), "line"
    return _clean_title(stem.replace("_", " ")) or stem, "name"


def _with_heading(body: str, title: str, title_from: str) -> str:
    """Make the body open with ``# title`` as corpus documents do, when the title is document text."""
    lines = body.split("\n")
    top = [ln.strip() for ln in lines if ln.strip()][:10]
    if any(re.fullmatch(r"#{1,6}\s+" + re.escape(title), ln) for ln in top):
        return body  # already there, perhaps under a kicker line
    first = next((i for i, ln in enumerate(lines) if ln.strip()), None)
    if first is not None and lines[first].strip().lstrip("#").strip() == title:
        rest = any(ln.strip() for ln in lines[first + 1:])
        if not lines[first].startswith("#") and rest:  # a lone line stays text, or nothing is left to index
            lines[first] = "# " + title
        return "\n".join(lines)
    if title_from == "meta":
        return f"# {title}\n\n{body}"
    return body


def slugify(stem: str) -> str:
    """A safe corpus file stem: letters (any script), digits, '-', '_', '.'; no separators."""
    s = unicodedata.normalize("NFKC", stem).strip().lower()
    s = re.sub(r"[^\w.-]+", "-", s)
    s = re.sub(r"\.{2,}", ".", s)
    s = re.sub(r"-{2,}", "-", s).strip("-._")
    s = s[:_MAX_SLUG].rstrip("-._")
    return s or "document"


def _unique_name(stem: str, taken: set[str]) -> str:
    slug = slugify(stem)
    candidate, n = slug, 2
    while candidate.lower() in taken:
        candidate = f"{slug}-{n}"
        n += 1
    taken.add(candidate.lower())
    return candidate + ".md"


def _content_key(body: str) -> str:
    """Hash of a body with layout whitespace ignored: the same text is the same document."""
    lines = (" ".join(ln.split()) for ln in body.splitlines())
    return hashlib.sha256("\n".join(ln for ln in lines if ln).encode("utf-8")).hexdigest()


# ---- writing and building ---------------------------------------------------

def _place(doc: _Converted, corpus_dir: Path, settings, seen: dict, taken: set) -> tuple[FileResult, Path | None]:
    """Write one converted document into the corpus (caller holds the ingest lock)."""
    dup = next((seen[k] for k in doc.keys if k in seen), None)
    if dup is not None:
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


def _indexed(engine) -> tuple[dict, dict]:
    """({doc name: chunk count}, {doc name: sha256}) of the live index; empty when unknown."""
    try:
        manifest = engine.store.manifest() or {}
    except Exception:  # an unreadable index is rebuilt by the engine; here it only means "unknown"
        return {}, {}
    if not isinstance(manifest, dict) or manifest.get("chunking") != engine.settings.chunking_fingerprint():
        return {}, {}
    return dict(manifest.get("doc_chunks") or {}), dict(manifest.get("files") or {})


def _city_of(title: str) -> str:
    if not _CJK_CHAR.search(title or ""):
        return ""
    try:
        import jieba

        jieba.setLogLevel(logging.WARNING)
        return corpus.place_in(title)
    except Exception:  # jieba missing or broken: the city tag is a nicety
        logger.debug("no city for %r", title, exc_info=True)
        return ""


@contextmanager
def _ingest_lock(settings):
    """Serialises corpus writers (add/remove) across threads and processes."""
    index_dir = Path(settings.index_dir)
    index_dir.mkdir(parents=True, exist_ok=True)
    with FileLock(str(index_dir / _LOCK_NAME)):
        yield


def _write_atomic(path: Path, data: bytes) -> None:
    write_atomic(path, data, prefix=_TEMP_PREFIX)  # _sweep_temp_files finds what a kill leaves


def _sweep_temp_files(corpus_dir: Path) -> None:
    """Temp files left by a writer that was killed (we hold the lock, so none is live)."""
    for p in corpus_dir.glob(f"{_TEMP_PREFIX}*.tmp"):
        logger.info("removing %s left by an interrupted add", p.name)
        p.unlink(missing_ok=True)


_ABS_PATH = re.compile(r"""(?<![\w:/])(?:[A-Za-z]:)?[\\/](?:[^\s'"\\/]+[\\/])*([^\s'"\\/]*)""")


def _public_error(exc: BaseException) -> str:
    """An exception's text fit for the person adding files: no server paths.

    OSErrors give their reason (``Permission denied``); any absolute path left
    in other messages is cut to its last component, the name the user knows.
    """
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC and "disk is full" not in (exc.strerror or ""):
        text = f"the disk is full ({exc.strerror or 'No space left on device'})"
    elif isinstance(exc, OSError) and exc.strerror:
        text = exc.strerror
    else:
        text = str(exc) or type(exc).__name__
    return _ABS_PATH.sub(lambda m: m.group(1) or "…", text)


def _size(n: int) -> str:
    return f"{n / 1024 / 1024:.1f} MB" if n >= 1024 * 1024 else f"{n / 1024:.1f} KB"
