"""Corpus stage: documents on disk -> ``Document`` objects.

A corpus file is UTF-8 text (``.md`` or ``.txt``) with an optional front-matter
block of ``key: value`` lines between ``---`` fences. Chunk offsets point into
the file's exact text, so the loader never rewrites what it reads; cleaning
(:func:`normalise`) happens once, when a document is written into the corpus.
"""
from __future__ import annotations

import hashlib
import logging
import os
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import yaml

logger = logging.getLogger(__name__)

SUFFIXES = (".md", ".txt")
_YEAR = re.compile(r"((?:19|20)\d\d)")
_YEAR_IN_TITLE = re.compile(r"(?<!\d)((?:19|20)\d\d)(?=年)")
_FENCE = "---"
_TERMINAL = "。！？；：…”’」』）)!?;:.,，、"


@dataclass(frozen=True)
class Document:
    name: str  # file name inside corpus/, the document's id
    path: Path
    text: str  # the file's full text, exactly as on disk
    body_start: int  # offset where the body starts (after front matter)
    meta: dict = field(default_factory=dict)

    @property
    def title(self) -> str:
        return str(self.meta.get("title") or Path(self.name).stem)

    @property
    def city(self) -> str:
        return str(self.meta.get("city") or "")

    @property
    def year(self) -> str:
        """The year the document reports on: front matter ``year``, else a year its title names
        (《宁波市2023年知识产权发展与保护状况》 → 2023); "" when neither says."""
        m = _YEAR.fullmatch(str(self.meta.get("year") or "").strip()) or _YEAR_IN_TITLE.search(self.title)
        return m.group(1) if m else ""

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()

    @property
    def body(self) -> str:
        return self.text[self.body_start:]


MAX_FRONT_MATTER = 16 * 1024  # characters; real front matter is a few hundred


class UnsafeFrontMatter(ValueError):
    """Front matter that is refused before it is built: too large, or YAML anchors/aliases."""


class _NoAliasLoader(yaml.SafeLoader):
    """A SafeLoader that refuses anchors and aliases: no billion-laughs expansion.

    The check runs on parser events, before any node is composed, so a bomb
    costs only the time to scan its (capped) text.
    """

    def compose_node(self, parent, index):
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            raise UnsafeFrontMatter("the front matter uses YAML anchors or aliases (& / *), "
                                    "which are not allowed")
        return super().compose_node(parent, index)


class _NoAliasDumper(yaml.SafeDumper):
    """Writes shared values out in full: what we write must load with :class:`_NoAliasLoader`."""

    def ignore_aliases(self, data):
        return True


def load_front_matter(block: str) -> object:
    """Parse one front-matter block safely; ``UnsafeFrontMatter`` or ``yaml.YAMLError`` if refused."""
    if len(block) > MAX_FRONT_MATTER:
        raise UnsafeFrontMatter(f"the front matter is over {MAX_FRONT_MATTER // 1024} KB")
    return yaml.load(block, Loader=_NoAliasLoader)


def split_front_matter(text: str, *, strict: bool = False) -> tuple[dict, int]:
    """Return (metadata, body offset). Text without front matter gives ({}, 0).

    Unreadable or unsafe front matter (see :func:`load_front_matter`) is treated
    as text with a warning, or raises ``UnsafeFrontMatter`` when ``strict``.
    """
    if not text.startswith(_FENCE + "\n"):
        return {}, 0
    end = text.find("\n" + _FENCE + "\n", len(_FENCE))
    if end < 0:
        return {}, 0
    try:
        meta = load_front_matter(text[len(_FENCE) + 1:end]) or {}
    except UnsafeFrontMatter as exc:
        if strict:
            raise
        logger.warning("refusing front matter (%s); treating it as text", exc)
        return {}, 0
    except yaml.YAMLError:
        logger.warning("unreadable front matter; treating it as text")
        return {}, 0
    if not isinstance(meta, dict):
        return {}, 0
    return meta, end + len(_FENCE) + 2


def render(meta: dict, body: str) -> str:
    """Front matter + body, the on-disk form of a corpus document."""
    head = yaml.dump({k: v for k, v in meta.items() if v not in (None, "")}, Dumper=_NoAliasDumper,
                     allow_unicode=True, sort_keys=False).strip()
    return f"{_FENCE}\n{head}\n{_FENCE}\n{body}"


def load_document(path: Path) -> Document:
    text = path.read_text(encoding="utf-8")
    meta, body_start = split_front_matter(text)
    if "title" not in meta:
        meta = {**meta, "title": guess_title(text[body_start:]) or path.stem}
    return Document(name=path.name, path=path, text=text, body_start=body_start, meta=meta)


def corpus_files(corpus_dir: Path) -> list[Path]:
    return [Path(corpus_dir) / name for name in sorted(corpus_stats(corpus_dir))]


def corpus_stats(corpus_dir: Path) -> dict[str, list[int]]:
    """Name -> [size, mtime_ns] of every corpus file, from one directory scan (a build's diff
    starts here, so it stays cheap at tens of thousands of files)."""
    out = {}
    try:
        entries = os.scandir(corpus_dir)
    except OSError:  # missing or unreadable: an empty corpus
        return out
    with entries:
        for entry in entries:
            name = entry.name
            if name.startswith(".") or os.path.splitext(name)[1].lower() not in SUFFIXES:
                continue
            try:
                if entry.is_file():
                    st = entry.stat()
                    out[name] = [st.st_size, st.st_mtime_ns]
            except OSError:
                continue
    return dict(sorted(out.items()))


def load_corpus(corpus_dir: Path) -> list[Document]:
    docs = []
    for path in corpus_files(corpus_dir):
        try:
            docs.append(load_document(path))
        except (UnicodeDecodeError, OSError) as exc:
            # one bad file must not take the whole corpus down
            logger.warning("skipping %s: %s", path.name, exc)
    return docs


def guess_title(body: str) -> str:
    for line in body.splitlines():
        line = line.strip()
        if line.startswith("# "):
            return line[2:].strip()
    for line in body.splitlines():
        if line.strip():
            return line.strip().lstrip("#").strip()[:80]
    return ""


# ---- cleaning, applied once when a document enters the corpus -------------

def normalise(text: str) -> str:
    """Tidy extracted text without rewording it.

    NFC, unified newlines, no trailing spaces, at most one blank line, and
    paragraphs that a line break cut mid-sentence joined back together
    (``营商环境`` / ``境创新`` -> ``营商环境创新``: a character repeated across the
    break is a typesetting artefact and is kept once).
    """
    text = unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n"))
    text = text.replace("\u3000", " ").replace("\ufeff", "")
    lines = [ln.rstrip() for ln in text.split("\n")]
    paras: list[str] = []
    for ln in lines:
        if not ln.strip():
            paras.append("")
            continue
        prev = _last_paragraph(paras)
        if prev is not None and _is_broken_join(paras[prev], ln):
            head = paras[prev]
            tail = ln.lstrip()
            if head[-1] == tail[0]:
                tail = tail[1:]
            paras[prev] = head + tail
            del paras[prev + 1:]
            continue
        paras.append(ln)
    out = re.sub(r"\n{3,}", "\n\n", "\n".join(paras)).strip("\n")
    return out + "\n"


def _last_paragraph(paras: list[str]) -> int | None:
    for i in range(len(paras) - 1, -1, -1):
        if paras[i]:
            return i
    return None


_CJK = re.compile(r"[\u3400-\u9fff“《（]")


def _is_broken_join(head: str, tail: str) -> bool:
    """A long body line that stops mid-sentence, continued by a body line."""
    head_s, tail_s = head.strip(), tail.strip()
    if len(head_s) < 30 or head_s.startswith(("#", "●", "-", "*", ">")):
        return False
    if tail_s.startswith(("#", "●", "-", "*", ">", "（", "(")):
        return False
    if head_s[-1] in _TERMINAL or not _CJK.match(head_s[-1]):
        return False
    # a paragraph that opens with a number or date is a new paragraph
    return bool(_CJK.match(tail_s[0])) and not tail_s[0].isdigit()


def split_articles(text: str) -> list[str]:
    """Split a file holding several articles at its level-1 headings.

    The short kicker line printed just above a headline belongs to that
    headline's article, not to the end of the previous one.
    """
    lines = text.split("\n")
    starts = [i for i, ln in enumerate(lines) if ln.startswith("# ")]
    if len(starts) <= 1:
        return [text]
    cuts = []
    for i in starts:
        j = i - 1
        while j >= 0 and not lines[j].strip():
            j -= 1
        # a kicker is one short line sitting after a blank line
        if j >= 0 and len(lines[j].strip()) <= 30 and not lines[j].startswith("#") \
                and (j == 0 or not lines[j - 1].strip()):
            cuts.append(j)
        else:
            cuts.append(i)
    cuts[0] = 0
    cuts.append(len(lines))
    return ["\n".join(lines[a:b]).strip("\n") + "\n" for a, b in zip(cuts, cuts[1:])]


# the country itself is never the city of a Chinese IP report: 中国(三亚)知识产权保护中心 is Sanya's
_NATIONAL = frozenset({"中国", "中华", "中华人民共和国", "全国", "我国"})


def place_in(title: str) -> str:
    """The first place name below the country that jieba tags in a title (``宁波市`` -> ``宁波``)."""
    import jieba.posseg as pseg

    for word, flag in pseg.cut(title):
        if flag == "ns" and len(word) >= 2 and word not in _NATIONAL:
            return word[:-1] if word.endswith("市") and len(word) > 2 else word
    return ""
