"""The types the stages hand each other: chunks, passages, answers, reason codes.

Imports no stage, so every stage (and the web layer) can import it without cycles.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class Chunk:
    doc: str  # corpus file name
    title: str
    section: str
    text: str
    start: int
    end: int
    city: str = ""
    year: str = ""  # the document's year, "" when unknown (a filter field)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Passage:
    text: str
    score: float
    rank: int
    source: str  # corpus file name
    title: str
    section: str
    start: int  # character offsets into the source file's text
    end: int

    def to_dict(self) -> dict:
        return asdict(self)


STATUSES = ("answer", "sentence", "not_found")


@dataclass(frozen=True)
class Answer:
    question: str
    answer: str | None  # the span, when status == "answer"
    sentence: str | None  # the source sentence holding the best span (or the best sentence)
    passage: Passage | None  # the passage holding the sentence
    passages: list[Passage] = field(default_factory=list)  # the answer's passage first, then retrieval order
    confidence: float = 0.0  # estimated probability that ``span`` is right
    start: int | None = None  # span offsets into the source file
    end: int | None = None
    sentence_start: int | None = None
    sentence_end: int | None = None
    reason: str = ""  # why the system abstained, when it did
    status: str = "not_found"
    span: str | None = None  # the reader's best span, shown or not
    reason_code: str = ""
    kind: str = ""  # the answer kind the question asked for

    def to_dict(self) -> dict:
        return asdict(self)


# reason codes -> English text; the UI translates codes (qa/web/locales/*.json)
REASONS = {
    "year_absent": "The documents say nothing about {0}.",
    "year_not_in_passages": "The passages that could answer say nothing about {0}.",
    "place_absent": "The documents say nothing about {0}.",
    "no_key_words": "The question's key words do not appear in these documents.",
    "not_close": "No passage is close enough to the question.",
    "unsupported": "The best passages do not say this.",  # the answerability model's verdict
}
