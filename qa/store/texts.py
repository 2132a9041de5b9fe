"""The text store: one SQLite file per index segment, written once, then read-only.

A segment holds whole documents: their full text, their chunks (offsets,
headings, BM25 tokens, stable ids) and their sentences. Segment files never
change after they are written (readers open them ``immutable``), so a build
shares an unchanged segment with the next generation by a hard link, and a
crash can only ever leave an unreferenced file behind.
"""
from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from ..schema import Chunk

_SCHEMA = """
CREATE TABLE docs (name TEXT PRIMARY KEY, sha TEXT NOT NULL, text TEXT NOT NULL);
CREATE TABLE chunks (row INTEGER PRIMARY KEY, id INTEGER NOT NULL UNIQUE, doc TEXT NOT NULL,
                     start INTEGER NOT NULL, "end" INTEGER NOT NULL, title TEXT, section TEXT,
                     city TEXT, year TEXT, text TEXT NOT NULL, tokens TEXT NOT NULL);
CREATE TABLE sentences (row INTEGER PRIMARY KEY, doc TEXT NOT NULL, start INTEGER NOT NULL,
                        "end" INTEGER NOT NULL);
CREATE TABLE lexicon (doc TEXT NOT NULL, kind TEXT NOT NULL, items TEXT NOT NULL);
"""


@dataclass
class SegmentTexts:
    """Everything textual of one segment, in row order (rows match the segment's vectors)."""
    docs: dict[str, tuple[str, str]]  # name -> (sha256, full text)
    ids: list[int]
    chunks: list[Chunk]
    tokens: list[list[str]]
    sentences: list[list]  # [doc, start, end]
    lexicon: dict[str, dict[str, list]]  # doc -> kind -> items (what the document contains)


def write_texts(path: Path, texts: SegmentTexts) -> None:
    """Write a new segment text file (``path`` must not exist yet)."""
    con = sqlite3.connect(path)
    try:
        con.executescript(_SCHEMA)
        con.executemany("INSERT INTO docs VALUES (?, ?, ?)",
                        [(name, sha, text) for name, (sha, text) in texts.docs.items()])
        con.executemany("INSERT INTO chunks VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", [
            (row, int(i), c.doc, c.start, c.end, c.title, c.section, c.city, c.year, c.text,
             json.dumps(toks, ensure_ascii=False))
            for row, (i, c, toks) in enumerate(zip(texts.ids, texts.chunks, texts.tokens))])
        con.executemany("INSERT INTO sentences VALUES (?, ?, ?, ?)",
                        [(row, d, a, b) for row, (d, a, b) in enumerate(texts.sentences)])
        con.executemany("INSERT INTO lexicon VALUES (?, ?, ?)",
                        [(doc, kind, json.dumps(items, ensure_ascii=False))
                         for doc, kinds in texts.lexicon.items() for kind, items in kinds.items()])
        con.commit()
    finally:
        con.close()


def _connect(path: Path) -> sqlite3.Connection:
    # immutable: no locks, no journal; the file is never written again
    return sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True)


def read_texts(path: Path, tokens: bool = False) -> SegmentTexts:
    """A segment's texts; its BM25 token lists only with ``tokens`` (a merge re-derives BM25
    statistics from them; search reads the persisted statistics instead)."""
    if not path.is_file():
        raise FileNotFoundError(path.name)
    want_tokens = tokens
    con = _connect(path)
    try:
        docs = {name: (sha, text) for name, sha, text in con.execute("SELECT name, sha, text FROM docs")}
        ids, chunks, tokens = [], [], []
        columns = 'id, doc, start, "end", title, section, city, year, text' + (", tokens" if want_tokens else "")
        for row in con.execute(f"SELECT {columns} FROM chunks ORDER BY row"):
            i, doc, a, b, title, section, city, year, text = row[:9]
            ids.append(i)
            chunks.append(Chunk(doc=doc, title=title, section=section, text=text, start=a, end=b, city=city,
                                year=year or ""))
            if want_tokens:
                tokens.append(json.loads(row[9]))
        sentences = [list(r) for r in con.execute('SELECT doc, start, "end" FROM sentences ORDER BY row')]
        lexicon: dict[str, dict[str, list]] = {}
        for doc, kind, items in con.execute("SELECT doc, kind, items FROM lexicon"):
            lexicon.setdefault(doc, {})[kind] = json.loads(items)
    except sqlite3.DatabaseError as exc:  # a damaged file reads as an error, not as garbage rows
        raise ValueError(f"{path.name}: {exc}") from exc
    finally:
        con.close()
    return SegmentTexts(docs, ids, chunks, tokens, sentences, lexicon)
