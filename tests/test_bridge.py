"""The English -> Chinese bridge: question words, and what they translate to (no model, no index)."""
from qa.lexical import Bridge, bridge_table, en_words, expand_abbreviations


def test_question_words_drop_possessives_and_stop_words_by_their_stems():
    assert en_words("Does Ningbo's IP office hold patents?") == ["ningbo", "ip", "office", "hold", "patent"]
    assert "doe" not in en_words("What does it cost?")  # "does" stems to "doe": still a stop word


def test_a_possessive_place_and_not_a_light_verb_is_translated():
    table = bridge_table([("宁波", "Ningbo"), ("把握", "to hold/to grasp"), ("专利", "patent")], set())
    terms, coverage = Bridge(table).translate("How many patents did Ningbo's firms hold?")
    assert {"宁波", "专利"} <= set(terms)
    assert "把握" not in terms  # "hold" is a light verb of the question, not a content word
    assert 0 < coverage < 1  # "firms" found no translation


def test_abbreviations_come_from_the_data_file():
    assert expand_abbreviations("IPR and IP") == "intellectual property rights and intellectual property"
    assert expand_abbreviations("TIPS") == "TIPS"


def test_inflected_british_and_hyphenated_words_find_their_dictionary_form():
    table = bridge_table([("受理", "to handle"), ("中心", "center"), ("计划", "plan/program"),
                          ("批量", "batch"), ("获奖", "to win an award"), ("高质量", "high quality")], set())
    b = Bridge(table)
    assert b.key("handled") == "handle" and b.key("planned") == "plan"
    assert b.key("centre") == "center" and b.key("programme") == "program"
    assert b.key("batche") == "batch"  # "batches" stems to "batche"
    assert b.key("won") == "win"
    assert b.key("unknown") == "unknown"  # nothing fits: the word stays itself
    terms, _ = b.translate("Which high-quality centre handled the batches it planned?")
    assert {"高质量", "中心", "受理", "批量", "计划"} <= set(terms)
