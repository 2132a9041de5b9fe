"""The question pool: our own gold questions, one JSONL file per document.

Rows follow ``../shared/eval/dev.jsonl``'s schema. Questions on third-party
documents (``doc: "third-party/<file>"``) never quote the document: their
answer and evidence are character offsets into the file under
``../shared/corpora/third-party/`` (``answer_span``, ``evidence_span``,
``alt_answer_spans``, ``alt_evidence_spans``), resolved here at load time.
Extra fields: ``kind`` (the answer kind) and ``style`` (direct | reworded |
colloquial).
"""
from __future__ import annotations

import json
from pathlib import Path

from .settings import ROOT

POOL_DIR = ROOT / "eval" / "pool"
SHARED = ROOT.parent / "shared"
THIRD_PARTY = SHARED / "corpora" / "third-party"
TYPES = {"fact", "number", "paraphrase", "crosslingual", "multi", "unanswerable"}
KINDS = {"count", "money", "duration", "date", "percent", "growth", "rank", "name", "list",
         "org", "phrase", "none"}
STYLES = {"direct", "reworded", "colloquial"}


def doc_path(doc: str, corpus_dir: Path | None = None) -> Path:
    if doc.startswith("third-party/"):
        return THIRD_PARTY / doc.split("/", 1)[1]
    return (corpus_dir or ROOT / "corpus") / doc


def _text(doc: str, cache: dict, corpus_dir: Path | None) -> str:
    if doc not in cache:
        cache[doc] = doc_path(doc, corpus_dir).read_text(encoding="utf-8")
    return cache[doc]


def _span(text: str, span, where: str) -> str:
    if not (isinstance(span, list) and len(span) == 2 and all(isinstance(x, int) for x in span)
            and 0 <= span[0] < span[1] <= len(text)):
        raise ValueError(f"{where}: bad span {span!r}")
    return text[span[0]:span[1]]


def resolve(row: dict, texts: dict, corpus_dir: Path | None = None, where: str = "") -> dict:
    """Check one row and fill ``answer``/``evidence`` (and alts) from spans."""
    for key in ("id", "question", "lang", "type", "doc", "kind"):
        if not row.get(key):
            raise ValueError(f"{where}: missing {key!r}")
    if row["lang"] not in {"zh", "en"} or row["type"] not in TYPES or row["kind"] not in KINDS:
        raise ValueError(f"{where}: bad lang/type/kind {row['lang']}/{row['type']}/{row['kind']}")
    if row.get("style", "direct") not in STYLES:
        raise ValueError(f"{where}: bad style {row.get('style')!r}")
    text = _text(row["doc"], texts, corpus_dir)
    out = dict(row)
    if row["doc"].startswith("third-party/"):
        if any(row.get(k) for k in ("answer", "evidence", "alt_answers", "alt_evidence")):
            raise ValueError(f"{where}: third-party rows store offsets, never quoted text")
        out["answer"] = _span(text, row["answer_span"], where) if row.get("answer_span") else ""
        out["evidence"] = _span(text, row["evidence_span"], where) if row.get("evidence_span") else ""
        out["alt_answers"] = [_span(text, s, where) for s in row.get("alt_answer_spans") or []]
        out["alt_evidence"] = [_span(text, s, where) for s in row.get("alt_evidence_spans") or []]
    else:
        for key in ("answer", "evidence"):
            if row.get(key) and row[key] not in text:
                raise ValueError(f"{where}: {key} {row[key]!r} is not in {row['doc']}")
    unanswerable = row["type"] == "unanswerable"
    out.setdefault("answer", "")  # unanswerable rows may leave both out
    out.setdefault("evidence", "")
    if unanswerable != (not out["answer"]) or unanswerable != (not out["evidence"]):
        raise ValueError(f"{where}: unanswerable rows (only) have no answer and no evidence")
    if out["answer"] and out["answer"] not in out["evidence"]:
        raise ValueError(f"{where}: the answer is not inside the evidence")
    if out["evidence"] and not 4 <= len(out["evidence"]) <= 80:
        raise ValueError(f"{where}: evidence must be 4-80 characters")
    return out


def pool_questions() -> list[str]:
    """The pool's question texts alone (nothing resolved, so ../shared is not needed)."""
    return [json.loads(line)["question"] for path in sorted(POOL_DIR.glob("*.jsonl"))
            for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def is_pool_file(path: Path) -> bool:
    """Whether a gold file cites third-party documents (by ``doc`` or by offsets), so its rows
    need resolving and an index that holds those documents."""
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            try:
                row = json.loads(line) if line.strip() else {}
            except json.JSONDecodeError:
                continue  # load_gold / load_pool say where
            if isinstance(row, dict) and (str(row.get("doc", "")).startswith("third-party/")
                                          or "answer_span" in row or "evidence_span" in row):
                return True
    return False


def load_pool(paths: list[Path] | None = None, corpus_dir: Path | None = None) -> list[dict]:
    """Every row of the pool (or of ``paths``), checked and resolved."""
    paths = paths or sorted(POOL_DIR.glob("*.jsonl"))
    rows, texts, seen = [], {}, set()
    for path in paths:
        for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            where = f"{path}:{n}"
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{where}: not JSON ({exc.msg})") from None
            row = resolve(row, texts, corpus_dir, where)
            if row["id"] in seen:
                raise ValueError(f"{where}: duplicate id {row['id']}")
            seen.add(row["id"])
            rows.append(row)
    return rows


if __name__ == "__main__":  # python -m qa.pool [FILE...]: check files and print a summary
    import sys
    from collections import Counter
    pool = load_pool([Path(p) for p in sys.argv[1:]] or None)
    print(f"{len(pool)} questions OK")
    for key in ("doc", "lang", "kind", "type", "style"):
        print(key, dict(Counter(r.get(key, "direct") for r in pool)))
