"""Encoding detection for text files: BOMs, UTF-8, GBK/GB18030, Big5, BOM-less UTF-16, cp1252/cp1250.

:func:`decode_text` returns ``(text, encoding name)`` or raises ``IngestError``
for binary content. The Chinese double-byte encodings are told apart by how
many decoded characters are common characters of that encoding, which gets
short files right where statistical detectors guess.
"""
from __future__ import annotations

import logging
import unicodedata
from functools import lru_cache

from ..errors import IngestError

logger = logging.getLogger("qa.ingest")  # one logger for the package

_BOMS = ((b"\xef\xbb\xbf", "utf-8-sig"), (b"\xff\xfe\x00\x00", "utf-32"), (b"\x00\x00\xfe\xff", "utf-32"),
         (b"\xff\xfe", "utf-16"), (b"\xfe\xff", "utf-16"))


def decode_text(data: bytes) -> tuple[str, str]:
    """Text and encoding name of a text file: UTF-8 (BOM or not), GBK/GB18030, Big5, ...

    Strict UTF-8 first; a UTF-8 byte-order mark before bytes that are not UTF-8
    is a damaged file: read with U+FFFD for a stray bad byte, refused when there
    are more (:func:`_damaged_utf8`), never guessed as another encoding. Then the
    Chinese double-byte encodings are scored by how many of the decoded
    characters are common characters *of that encoding* (GB2312 level 1 for GBK,
    Big5's frequent set for Big5): the wrong one decodes to rare characters, kana
    or private-use code points. This gets short files right, where statistical
    detectors guess (charset-normalizer reads a 4-character GBK file as Big5).
    Then BOM-less UTF-16, then the Latin single-byte code pages
    (:func:`_best_latin`: Western cp1252/Latin-1 unless the text only reads as
    Central European cp1250; charset-normalizer alone picks cp1250 for French).
    Everything else goes to charset-normalizer.
    Binary content raises ``IngestError``.
    """
    for bom, enc in _BOMS:
        if data.startswith(bom):
            try:
                return _checked(data.decode(enc)), enc.replace("-sig", "")
            except UnicodeDecodeError as exc:
                if enc == "utf-8-sig":
                    return _damaged_utf8(data, exc.start + len(bom))  # utf-8-sig counts after the BOM
                break
    if b"\x00" in data:
        utf16 = _best_utf16(data)  # UTF-16 without a BOM: ASCII characters carry a NUL byte
        if utf16 is not None:
            return utf16
        raise IngestError("this is a binary file, not text (it contains NUL bytes)")
    try:
        return _checked(data.decode("utf-8")), "utf-8"
    except UnicodeDecodeError:
        pass
    cjk = _best_cjk(data)
    if cjk and cjk[0] >= 0.5:
        return _checked(cjk[1]), cjk[2]
    utf16 = _best_utf16(data)  # all-CJK UTF-16 has no NUL bytes at all
    if utf16 is not None:
        return utf16
    latin = _best_latin(data)
    if latin is not None:
        return latin
    from charset_normalizer import from_bytes

    guess = from_bytes(data).best()
    if guess is not None and guess.encoding:
        text = str(guess)
        if _binary_reason(text) is None:
            return text, guess.encoding
    if cjk:
        return _checked(cjk[1]), cjk[2]
    raise IngestError("this looks like a binary file, not text (it is not valid UTF-8, GBK/GB18030 or Big5)")


def _best_utf16(data: bytes) -> tuple[str, str] | None:
    """(text, encoding) when ``data`` reads as BOM-less UTF-16 LE or BE text, else None.

    Both byte orders are decoded strictly and scored by the share of characters
    that are printable ASCII, whitespace, common hanzi (GB2312 level 1 or Big5's
    frequent set) or CJK/general punctuation and full-width forms. GBK, Big5 or
    binary data read as UTF-16 lands on surrogates, Hangul, private-use and rare
    code points, so it scores far below real text.
    """
    if len(data) < 4 or len(data) % 2:
        return None
    common = _common_chars()["gb18030"] | _common_chars()["cp950"]

    def score(sample: str) -> float | None:
        good = sum(1 for ch in sample
                   if (" " <= ch <= "~") or ch in "\n\r\t\f" or ch in common
                   or "\u2000" <= ch <= "\u206f" or "\u3000" <= ch <= "\u303f" or "\uff00" <= ch <= "\uffef")
        return good / len(sample) if sample else 0.0
    return _best_reading(data, ("utf-16-le", "utf-16-be"), score, 0.9)


def _damaged_utf8(data: bytes, first: int) -> tuple[str, str]:
    """A file that says UTF-8 (its BOM) but has invalid bytes: U+FFFD for a few, else refused.

    The BOM is the writer's own word that this is UTF-8, so a stray bad byte among
    valid UTF-8 characters is damage (a truncated or spliced file) and the rest of the
    text is kept. More than that (over 1% of the non-ASCII characters) means the BOM
    is wrong, and guessing another encoding under it is how garbage gets in.
    """
    text = data[3:].decode("utf-8", errors="replace")
    bad = text.count("\ufffd")
    valid = sum(1 for ch in text if not ch.isascii()) - bad
    if bad > max(1, valid // 100):
        raise IngestError(f"this file starts with a UTF-8 byte-order mark but is not UTF-8 ({bad} invalid "
                          f"byte sequences, the first at byte {first}); save it again as UTF-8")
    logger.warning("UTF-8 file with %d invalid byte sequence(s), the first at byte %d: read as U+FFFD",
                   bad, first)
    return _checked(text), "utf-8"


def _best_latin(data: bytes) -> tuple[str, str] | None:
    """(text, encoding) when ``data`` reads as mostly-ASCII Latin-script text in cp1252 or cp1250.

    In real Western or Central European text most letters are ASCII and each accented
    letter sits inside a word. Read in the wrong code page, Polish or Czech turns some
    letters into symbols (``Zażółć`` -> ``Za¿ó³æ``), so fewer accented letters have a
    letter beside them. cp1252 (Latin-1's printable characters and more) is the
    default of unlabelled Western text, so it wins ties: French reads as letters in
    both. Cyrillic or Greek single-byte text decodes to whole words of accented
    letters and is left to charset-normalizer.
    """
    def score(sample: str) -> float | None:
        ascii_letters = sum(1 for ch in sample if ch.isascii() and ch.isalpha())
        accented = [i for i, ch in enumerate(sample) if not ch.isascii() and ch.isalpha()]
        if not ascii_letters or len(accented) * 2 > ascii_letters:  # French ~4%, Czech ~15% of letters
            return None
        in_word = sum(1 for i in accented
                      if (i and sample[i - 1].isalpha()) or (i + 1 < len(sample) and sample[i + 1].isalpha()))
        return in_word / len(accented) if accented else 1.0
    # below .8 neither reading is words (other code pages, mojibake): charset-normalizer's turn
    return _best_reading(data, ("cp1252", "cp1250"), score, 0.8)


def _best_reading(data: bytes, encodings, score, floor: float) -> tuple[str, str] | None:
    """(text, encoding) of the strict decoding whose first 50k characters score highest
    (the first wins ties; ``score`` returns None to rule one out), if it reaches ``floor``
    and does not read as binary."""
    best = None
    for enc in encodings:
        try:
            text = data.decode(enc)
        except UnicodeDecodeError:
            continue
        value = score(text[:50_000])
        if value is not None and (best is None or value > best[0]):
            best = (value, text, enc)
    if best is None or best[0] < floor or _binary_reason(best[1]) is not None:
        return None
    return best[1], best[2]


def _checked(text: str) -> str:
    reason = _binary_reason(text)
    if reason:
        raise IngestError(reason)
    return text


def _binary_reason(text: str) -> str | None:
    """Why decoded text looks like binary data, or None when it reads as text."""
    sample = text[:200_000]
    if not sample:
        return None
    bad = 0
    for ch in sample:
        if ch in "\n\r\t\f\v":
            continue
        cat = unicodedata.category(ch)
        if cat in ("Cc", "Co", "Cs", "Cn") or ch == "\ufffd":
            bad += 1
    if bad > max(3, 0.01 * len(sample)):
        return "this looks like a binary file, not text (control or undecodable characters)"
    return None


@lru_cache(maxsize=1)
def _common_chars() -> dict[str, frozenset]:
    """The common hanzi of each candidate encoding, derived from the codecs themselves."""
    gb = set()
    for hi in range(0xB0, 0xD8):  # GB2312 level 1: the 3755 most used simplified characters
        for lo in range(0xA1, 0xFF):
            try:
                gb.add(bytes((hi, lo)).decode("gb2312"))
            except UnicodeDecodeError:
                pass
    big5 = set()
    for hi in range(0xA4, 0xC7):  # Big5 A440-C67E: the 5401 frequently used characters
        for lo in (*range(0x40, 0x7F), *range(0xA1, 0xFF)):
            if hi == 0xC6 and lo > 0x7E:
                break
            try:
                big5.add(bytes((hi, lo)).decode("big5"))
            except UnicodeDecodeError:
                pass
    return {"gb18030": frozenset(gb), "cp950": frozenset(big5)}


def _best_cjk(data: bytes) -> tuple[float, str, str] | None:
    """(score, text, encoding) of the best strict GBK/GB18030 or Big5 decoding, if any."""
    best = None
    for enc, name in (("gb18030", "gb18030"), ("cp950", "big5")):
        try:
            text = data.decode(enc)
        except UnicodeDecodeError:
            continue
        common = _common_chars()[enc]
        good = total = 0
        for ch in text[:50_000]:
            if ch.isascii() or ch.isspace():
                continue
            total += 1
            if ch in common or "\u3000" <= ch <= "\u303f" or "\uff00" <= ch <= "\uffef":
                good += 1
        if not total:
            continue
        score = good / total
        if best is None or score > best[0]:  # ties go to GB18030, listed first
            best = (score, text, name)
    return best

