"""qa.ingest.encoding.decode_text: (text, encoding name) for the encodings Chinese files come in,
IngestError for binary data. No model, no files: bytes in, text out."""
import pytest

from qa.errors import IngestError
from qa.ingest import decode_text
from qa.ingest.encoding import decode_text as decode_text_in_module

ZH = "深圳市知识产权保护中心2023年受理专利预审申请1200件。\n"
TW = "臺灣智慧財產局公布專利申請統計，發明專利成長。\n"


def test_the_package_exports_the_encoding_modules_function():
    assert decode_text is decode_text_in_module


@pytest.mark.parametrize("data, expected", [
    (ZH.encode("utf-8"), (ZH, "utf-8")),
    (b"\xef\xbb\xbf" + ZH.encode("utf-8"), (ZH, "utf-8")),  # the BOM is dropped, the name has no -sig
    (b"plain ASCII report\n", ("plain ASCII report\n", "utf-8")),
    ("知识产权 IP 保护 😀".encode("utf-8"), ("知识产权 IP 保护 😀", "utf-8")),
])
def test_utf8_with_or_without_a_bom(data, expected):
    assert decode_text(data) == expected


@pytest.mark.parametrize("text", [ZH, "专利", "一\r\n二\r\n"])
def test_gbk_reads_as_gb18030(text):
    # short files too, where statistical detectors guess Big5; line ends are left to the caller
    assert decode_text(text.encode("gbk")) == (text, "gb18030")


def test_gb18030_beyond_gbk():
    text = "𠀀中文"  # U+20000 needs GB18030's four-byte sequences
    assert decode_text(text.encode("gb18030")) == (text, "gb18030")


@pytest.mark.parametrize("text", [TW, "專利"])
def test_big5(text):
    assert decode_text(text.encode("big5")) == (text, "big5")


@pytest.mark.parametrize("data, expected", [
    (ZH.encode("utf-16"), "utf-16"),  # Python writes a BOM in native order
    (b"\xff\xfe" + ZH.encode("utf-16-le"), "utf-16"),
    (b"\xfe\xff" + ZH.encode("utf-16-be"), "utf-16"),
    (ZH.encode("utf-16-le"), "utf-16-le"),  # no BOM: the byte order is scored
    (ZH.encode("utf-16-be"), "utf-16-be"),
    (ZH.encode("utf-32"), "utf-32"),
])
def test_utf16_and_utf32_with_and_without_a_bom(data, expected):
    assert decode_text(data) == (ZH, expected)


def test_bomless_utf16_ascii_is_not_taken_for_binary():
    text = "Patent report 2023\n"
    assert decode_text(text.encode("utf-16-le")) == (text, "utf-16-le")
    assert decode_text(text.encode("utf-16-be")) == (text, "utf-16-be")


def test_binary_with_nul_bytes_is_refused():
    with pytest.raises(IngestError, match="binary file.*NUL bytes"):
        decode_text(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(200))


def test_undecodable_bytes_are_refused():
    with pytest.raises(IngestError, match="not valid UTF-8, GBK/GB18030 or Big5"):
        decode_text(bytes(range(128, 256)) * 20)


def test_control_characters_are_refused():
    with pytest.raises(IngestError, match="control or undecodable characters"):
        decode_text(b"abc" + bytes(range(1, 9)) * 10)


def test_a_few_control_characters_are_tolerated():
    text = "专利\x1b申请\n"
    assert decode_text(text.encode("utf-8")) == (text, "utf-8")


def test_empty_input_is_empty_utf8():
    # convert_file refuses empty files before decoding; decode_text itself has nothing to object to
    assert decode_text(b"") == ("", "utf-8")


# ---- Western and Central European single-byte text ---------------------------

FR = "Le délégué a présenté à Genève le rapport sur la propriété intellectuelle ; très encourageant.\n"
DE = "Größere Unternehmen führen die Statistik des Deutschen Patent- und Markenamts an.\n"
ES = "¿Qué publicó la Oficina Española de Patentes y Marcas el año pasado?\n"


@pytest.mark.parametrize("text", [FR, DE, ES, "Café résumé"])
@pytest.mark.parametrize("encoding", ["latin-1", "cp1252"])
def test_western_european_text_reads_as_cp1252(text, encoding):
    # charset-normalizer alone calls these cp1250 (è -> č) or, when short, cp1006
    assert decode_text(text.encode(encoding)) == (text, "cp1252")


def test_cp1252_punctuation_is_read_too():
    text = "L’Office « européen » : 100 € — “brevets” – § 3.\n"
    assert decode_text(text.encode("cp1252")) == (text, "cp1252")


@pytest.mark.parametrize("text", ["Zażółć gęślą jaźń. Urząd Patentowy opublikował sprawozdanie.\n",
                                  "Úřad průmyslového vlastnictví zveřejnil výroční zprávu, ťuk.\n"])
def test_central_european_text_stays_cp1250(text):
    # read as cp1252 its letters turn into symbols (Za¿ó³æ) or cannot be decoded at all
    assert decode_text(text.encode("cp1250")) == (text, "cp1250")


def test_cyrillic_is_not_taken_for_accented_latin():
    text = "Роспатент опубликовал годовой отчёт о патентах за 2023 год.\n"
    assert decode_text(text.encode("cp1251")) == (text, "cp1251")


# ---- a UTF-8 byte-order mark over bytes that are not UTF-8 ----------------------

@pytest.mark.parametrize("body", [ZH.encode("gbk"), FR.encode("latin-1")])
def test_a_bom_over_another_encoding_is_refused_not_guessed(body):
    with pytest.raises(IngestError, match=r"UTF-8 byte-order mark but is not UTF-8 .*first at byte \d+"):
        decode_text(b"\xef\xbb\xbf" + body)


def test_the_refusal_names_the_first_bad_byte_of_the_file():
    data = b"\xef\xbb\xbf" + "专利".encode("gbk")  # D7 A8 is valid UTF-8 (U+05E8); C0 FB is not
    with pytest.raises(IngestError, match="first at byte 5"):
        decode_text(data)


def test_a_stray_bad_byte_in_a_bom_utf8_file_is_one_replacement_character(caplog):
    data = b"\xef\xbb\xbf" + ZH.encode("utf-8") * 5 + b"\xff" + ZH.encode("utf-8")
    text, encoding = decode_text(data)
    assert encoding == "utf-8" and text == ZH * 5 + "\ufffd" + ZH
    assert "invalid byte" in caplog.text
