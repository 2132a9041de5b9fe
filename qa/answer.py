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
from .schema import REASONS, STATUSES, Answer

__all__ = ["Answer", "REASONS", "STATUSES", "abstain_reason"]

def abstain_reason(question: str, corpus_years: set[str], unknown_places: list[str],
                   lexical_coverage: float, top_dense: float, threshold: float,
                   contexts: list[str]) -> tuple[str, str]:
    """(code, text) of why the corpus cannot answer, or ('', '') when it might.

    ``corpus_years`` are the 19xx/20xx numbers the documents' text contains (collected per
    document at build time, so no copy of the corpus is needed here); ``contexts`` are the top passages with their titles and sections: a year the
    question names must appear there, not merely somewhere in the corpus.
    """
    for num in re.findall(r"(?<![\d.])(?:19|20)\d\d(?![\d.])", question):
        if num not in corpus_years:
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
