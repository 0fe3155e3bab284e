"""Answer formats: parse(render(gold)) == gold for adversarial names in both languages, and parsers
that tolerate what models write (spacing, full-width punctuation, order, leading sentences) and never raise.
"""

from __future__ import annotations

import string

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from curate.tasks.base import LabelView, canonical_json
from curate.tasks.classification import LabelList
from curate.tasks.event import EventLines
from curate.tasks.ner import MentionList, TypeLines
from curate.tasks.normalization import IdLines
from curate.tasks.qa import FreeText, OptionLetter, YesNo
from curate.tasks.relation import RelationLines
from curate.tasks.text_pair import PairLabel

# names that break naive formats: separators of every format in both widths, quotes, brackets, colons,
# none words, spaces at the ends, line breaks, Chinese and Latin text
TRICKY = [*';；,，:：[]［］【】()（）"“”|=\n -*•', "none", "无", "None.", "n/a", "a; b", "[x, y]", '""']
name_text = st.lists(st.sampled_from(TRICKY)
                     | st.text(string.ascii_letters + "αβ0123 ", min_size=1, max_size=6)
                     | st.sampled_from(["阿司匹林", "肺癌", "2,4-dinitrophenol", "IL-2", "TNF-α"]),
                     min_size=1, max_size=4).map("".join)
LANGS = st.sampled_from(["en", "zh"])
RELAXED = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def view(raw: list[str], lang: str) -> LabelView:
    return LabelView(raw, [f"{r} name" if lang == "en" else f"{r}类" for r in raw])


def round_trip(fmt, gold, fields, labels, lang) -> None:
    text = fmt.render(gold, fields, labels, lang)
    assert canonical_json(fmt.parse(text, fields, labels, lang)) == canonical_json(gold), text


@RELAXED
@given(st.lists(st.tuples(st.sampled_from(["Chemical", "Disease", "Gene"]), name_text), max_size=6), LANGS)
def test_type_lines_round_trip(pairs, lang):
    gold = sorted({(t, m) for t, m in pairs})
    fields = {"text": "", "options": ["Chemical", "Disease", "Gene"]}
    round_trip(TypeLines(), [list(p) for p in gold], fields, view(fields["options"], lang), lang)


@RELAXED
@given(st.lists(name_text, max_size=6), LANGS)
def test_mention_list_round_trip(mentions, lang):
    gold = sorted(["Disease", m] for m in set(mentions))
    fields = {"text": "", "options": ["Disease"]}
    round_trip(MentionList(), gold, fields, view(["Disease"], lang), lang)


@RELAXED
@given(st.lists(st.tuples(st.sampled_from(["CID", "treats"]), name_text, name_text), max_size=5), LANGS)
def test_relation_lines_round_trip(triples, lang):
    gold = sorted([list(t) for t in set(triples)])
    fields = {"text": "", "options": ["CID", "treats"]}
    round_trip(RelationLines(), gold, fields, view(fields["options"], lang), lang)


@RELAXED
@given(st.lists(st.tuples(name_text, st.sampled_from(["MESH:D001", "OMIM:1;2", "ICD 10: K29", "x"])),
                max_size=5), LANGS)
def test_id_lines_round_trip(pairs, lang):
    gold = sorted([list(p) for p in set(pairs)])
    mentions = [*sorted({m for m, _ in pairs}), "unlinked mention"]
    round_trip(IdLines(), gold, {"text": "", "mentions": mentions}, LabelView([], []), lang)


@RELAXED
@given(st.lists(st.tuples(st.sampled_from(["event_a", "event_b"]),
                          st.lists(st.tuples(st.sampled_from(["trigger", "Theme", "Cause"]), name_text),
                                   min_size=1, max_size=3)), max_size=4), LANGS)
def test_event_lines_round_trip(events, lang):
    gold = sorted({(t, tuple(sorted(set(p)))) for t, p in events})
    gold_json = [[t, [list(x) for x in p]] for t, p in gold]
    fields = {"text": "", "options": ["event_a", "event_b"], "roles": ["trigger", "Theme", "Cause"],
              "role_labels": ["trigger", "theme", "cause"] if lang == "en" else ["触发词", "主题", "原因"]}
    round_trip(EventLines(), gold_json, fields, view(fields["options"], lang), lang)


@RELAXED
@given(st.lists(st.sampled_from(["treatment", "diagnosis", "prevention"]), unique=True), LANGS)
def test_label_list_round_trip(labels, lang):
    raw = ["treatment", "diagnosis", "prevention"]
    round_trip(LabelList(), sorted(labels), {"text": "", "options": raw}, view(raw, lang), lang)


@RELAXED
@given(st.sampled_from(["0", "1", "2"]), LANGS)
def test_pair_label_round_trip(label, lang):
    raw = ["0", "1", "2"]
    round_trip(PairLabel(), label, {"options": raw}, view(raw, lang), lang)


@RELAXED
@given(st.lists(name_text, min_size=2, max_size=5, unique=True), st.data(), LANGS)
def test_option_letter_round_trip(choices, data, lang):
    letters = string.ascii_uppercase[: len(choices)]
    gold = sorted(set(data.draw(st.lists(st.sampled_from(letters), min_size=1, max_size=2))))
    round_trip(OptionLetter(), gold, {"choices": choices}, LabelView([], []), lang)


@RELAXED
@given(st.sampled_from(["yes", "no", "maybe"]), LANGS)
def test_yesno_round_trip(answer, lang):
    round_trip(YesNo(), answer, {}, LabelView([], []), lang)


@RELAXED
@given(st.text(min_size=1).filter(lambda t: t.strip() == t and t), LANGS)
def test_free_text_round_trip(answer, lang):
    round_trip(FreeText(), answer, {}, LabelView([], []), lang)


ALL_FORMATS = [TypeLines(), MentionList(), RelationLines(), IdLines(), EventLines(), LabelList(), PairLabel(),
               OptionLetter(), YesNo()]


@RELAXED
@given(st.text(max_size=80), st.sampled_from(ALL_FORMATS), LANGS)
def test_parsers_never_raise(text, fmt, lang):
    fields = {"text": "x", "options": ["A"], "roles": ["trigger"], "role_labels": ["trigger"],
              "mentions": ["m"], "choices": ["one", "two"]}
    fmt.parse(text, fields, LabelView(["A"], ["a"]), lang)


# --- tolerance: what models write instead of the exact format ---------------------------------------------

NER_FIELDS = {"text": "Aspirin caused asthma; ibuprofen did not.", "options": ["Chemical", "Disease"]}
NER_VIEW_EN = LabelView(["Chemical", "Disease"], ["chemical", "disease"])
NER_VIEW_ZH = LabelView(["Chemical", "Disease"], ["化学物质", "疾病"])
NER_GOLD = [["Chemical", "Aspirin"], ["Chemical", "ibuprofen"], ["Disease", "asthma"]]


def test_type_lines_tolerates_spacing_width_order_case_and_a_leading_sentence():
    variants = [
        "Here are the entities:\n  Disease :  asthma\nCHEMICAL: ibuprofen ;Aspirin",
        "- chemical: Aspirin; ibuprofen\n- disease: asthma\n",
        "disease：asthma\nchemical：Aspirin；ibuprofen",
        "Entities of type chemical: \"Aspirin\"; ibuprofen\ndisease: asthma",
    ]
    for text in variants:
        assert TypeLines().parse(text, NER_FIELDS, NER_VIEW_EN, "en") == NER_GOLD, text
    zh = "疾病实体：asthma\n化学物质:Aspirin; ibuprofen"
    assert TypeLines().parse(zh, NER_FIELDS, NER_VIEW_ZH, "zh") == NER_GOLD


def test_type_lines_missing_line_loses_only_that_type():
    assert TypeLines().parse("disease: asthma", NER_FIELDS, NER_VIEW_EN, "en") == [["Disease", "asthma"]]


def test_mention_list_tolerates_a_leading_sentence_and_lines():
    fields = {"text": "Patients with lung cancer or asthma.", "options": ["Disease"]}
    view1 = LabelView(["Disease"], ["disease"])
    expected = [["Disease", "asthma"], ["Disease", "lung cancer"]]
    parse = MentionList().parse
    assert parse("The diseases in the text are: asthma; lung cancer.", fields, view1, "en") == expected
    assert parse("asthma\nlung cancer", fields, view1, "en") == expected
    assert parse("上述文本中包含的疾病实体为：asthma；lung cancer", fields, view1, "zh") == expected


def test_relation_lines_tolerates_taiyi_shapes_and_unquoted_commas():
    fields = {"text": "2,4-dinitrophenol caused liver damage, and aspirin treats pain.", "options": ["CID"]}
    labels = LabelView(["CID"], ["chemical induces disease"])
    expected = [["CID", "2,4-dinitrophenol", "liver damage"]]
    for text in ["chemical induces disease: [2,4-dinitrophenol, liver damage]",
                 "[2,4-dinitrophenol，liver damage]",
                 "具有chemical induces disease关系的实体对如下：【2,4-dinitrophenol, liver damage】",
                 "chemical induces disease:  ( 2,4-dinitrophenol , liver damage )"]:
        assert RelationLines().parse(text, fields, labels, "en") == expected, text


def test_label_list_tolerates_result_prefix_commas_and_unknown_labels():
    raw = ["treatment", "diagnosis", "prevention"]
    labels = LabelView(raw, ["Treatment", "Diagnosis", "Prevention"])
    fields = {"options": raw}
    parse = LabelList().parse
    assert parse("Result: Treatment; Diagnosis", fields, labels, "en") == ["diagnosis", "treatment"]
    assert parse("treatment, prevention", fields, labels, "en") == ["prevention", "treatment"]
    assert parse("上述文本被分类为：Diagnosis", fields, labels, "zh") == ["diagnosis"]
    assert parse("Treatment; surgery", fields, labels, "en") == ["?surgery", "treatment"]


def test_option_letter_and_yesno_tolerance():
    fields = {"choices": ["Aspirin", "Penicillin", "Insulin"]}
    none = LabelView([], [])
    assert OptionLetter().parse("The answer is (B).", fields, none, "en") == ["B"]
    assert OptionLetter().parse("Answer: C", fields, none, "en") == ["C"]
    assert OptionLetter().parse("penicillin", fields, none, "en") == ["B"]
    assert OptionLetter().parse("答案是A", fields, none, "zh") == ["A"]
    assert YesNo().parse("Yes, because the trial showed it.", {}, none, "en") == "yes"
    assert YesNo().parse("答案：否", {}, none, "zh") == "no"
    assert YesNo().parse("I cannot tell", {}, none, "en") is None
