"""Answer stage output, and abstention: when the documents cannot answer.

``Answer.status`` says which of three cases applies:

- ``answer``: a span whose calibrated confidence reaches the display threshold
  (where the lower bound of out-of-fold precision reached .90); ``answer`` holds it.
- ``sentence``: the best sentence and its passage only; the reader's best
  span, if it found one, is in ``span`` but is not presented as the answer.
- ``not_found``: the documents do not say (``reason`` / ``reason_code``).
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field

from .retrieve import Passage

STATUSES = ("answer", "sentence", "not_found")


@dataclass(frozen=True)
class Answer:
    question: str
    answer: str | None  # the span, when status == "answer"
    sentence: str | None  # the source sentence holding the best span (or the best sentence)
    passage: Passage | None  # the passage holding the sentence
    passages: list[Passage] = field(default_factory=list)
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


# reason codes -> English text; the UI translates codes (see app.py)
REASONS = {
    "year_absent": "The documents say nothing about {0}.",
    "year_not_in_passages": "The passages that could answer say nothing about {0}.",
    "place_absent": "The documents say nothing about {0}.",
    "no_key_words": "The question's key words do not appear in these documents.",
    "not_close": "No passage is close enough to the question.",
    "unsupported": "The best passages do not say this.",  # the answerability model's verdict
}


def abstain_reason(question: str, corpus_squashed: str, unknown_places: list[str],
                   lexical_coverage: float, top_dense: float, threshold: float,
                   contexts: list[str]) -> tuple[str, str]:
    """(code, text) of why the corpus cannot answer, or ('', '') when it might.

    ``contexts`` are the top passages with their titles and sections: a year the
    question names must appear there, not merely somewhere in the corpus.
    """
    for num in re.findall(r"(?<![\d.])(?:19|20)\d\d(?![\d.])", question):
        if num not in corpus_squashed:
            return "year_absent", REASONS["year_absent"].format(num)
        if contexts and not any(num in c for c in contexts):
            return "year_not_in_passages", REASONS["year_not_in_passages"].format(num)
    if unknown_places:
        return "place_absent", REASONS["place_absent"].format(", ".join(unknown_places))
    if lexical_coverage < 0.2:
        return "no_key_words", REASONS["no_key_words"]
    if top_dense < threshold:
        return "not_close", REASONS["not_close"]
    return "", ""
