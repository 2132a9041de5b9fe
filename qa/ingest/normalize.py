"""Unicode normalisation of ingested text, so documents match NFKC-normalised questions.

Extracted text (PDF above all) carries compatibility characters a question never
has: Kangxi radicals (``⾦`` U+2FA6 for ``金``), CJK compatibility ideographs,
full-width letters and digits (``２０２３``), ligatures (``ﬁ``), and spaces
between characters that the extractor put in from glyph positions
(``2023 年``, ``知 识 产 权``). Questions are NFKC-normalised
(:func:`qa.retrieve.clean_question`), so the documents are too, once, before
they are written into ``corpus/``: every offset computed later (chunks,
answers, sentences) indexes the stored file exactly.

Two kinds of characters are left as they are (see :data:`KEEP` and
:data:`KEEP_TAGS`); the rest of the text is NFKC.
"""
from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

__all__ = ["KEEP", "KEEP_TAGS", "fold", "normalize_text"]

# Chinese typesetting's own punctuation. NFKC would make ，：；（）！？ ASCII and … three dots:
# that rewrites how the text reads, and the sentence splitter (qa.chunking: ； ends a
# sentence, ; does not) and the paragraph re-joiner (qa.corpus: a line opening with （)
# tell the two apart. A question's ASCII punctuation never has to match these anyway.
KEEP = frozenset("，：；（）！？…‥")

# Compatibility forms whose NFKC changes the number they write: 10⁴ -> 104, m² -> m2,
# CO₂ -> CO2, ①2023年 -> 12023年, ½ -> 1⁄2. The document is what answers are quoted from,
# so it keeps them; a question typed with them is rare.
KEEP_TAGS = frozenset({"<super>", "<sub>", "<circle>", "<fraction>"})

# Han ideographs (with extensions and compatibility blocks), CJK symbols and punctuation
# (、。〈〉《》「」…) and the kept full-width punctuation: text whose spacing is part of the
# glyphs, so a space beside them is an extraction artefact.
_CJK = ("\u3001-\u303f\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f"
        + "".join(sorted(KEEP)))
# spaces and tabs (not line breaks: those are paragraph structure) between two CJK
# characters, or between a CJK character and an ASCII digit on either side
_GAP = re.compile(rf"(?<=[{_CJK}])[ \t]+(?=[{_CJK}0-9])|(?<=[0-9])[ \t]+(?=[{_CJK}])")


def normalize_text(text: str) -> str:
    """:func:`fold`, then no spaces inside CJK text; idempotent, and never touches line breaks.

    ``２０２３ 年 ⾦ 华`` -> ``2023年金华``; ``（一）截至 ２０２３ 年，`` -> ``（一）截至2023年，``.
    """
    return _GAP.sub("", fold(text)) if text else text


def fold(text: str) -> str:
    """NFKC of every character except :data:`KEEP` and :data:`KEEP_TAGS` ones."""
    if unicodedata.is_normalized("NFKC", text):  # the common case; kept characters are not NFKC
        return text
    # NFKC of whole runs between kept characters, so combining sequences still compose
    out, start = [], 0
    for i, ch in enumerate(text):
        if ord(ch) > 0x7F and _kept(ch):
            out.append(unicodedata.normalize("NFKC", text[start:i]))
            out.append(ch)
            start = i + 1
    out.append(unicodedata.normalize("NFKC", text[start:]))
    return "".join(out)


@lru_cache(maxsize=4096)
def _kept(ch: str) -> bool:
    return ch in KEEP or unicodedata.decomposition(ch).split(" ", 1)[0] in KEEP_TAGS
