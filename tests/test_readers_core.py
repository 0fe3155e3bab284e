"""PubTator, CMeEE and tabular readers on tiny files of our own, bad input included."""

import gzip
import json

from curate.readers import ReadContext, get_reader


def read(reader, path, options=None, labels=()):
    ctx = ReadContext("ds", "train", str(path), labels=frozenset(labels))
    docs = list(get_reader(reader, options).read(str(path), ctx))
    return docs, ctx.rejects


PUBTATOR = (
    "11|t|Lithium causes tremor.\n11|a|Tremor stops after lithium withdrawal.\n"
    "11\t0\t7\tLithium\tChemical\tD008094\n11\t15\t21\ttremor\tDisease\tD014202\n"
    "11\t23\t29\tTremor\tDisease\tD014202\n11\t42\t49\tlithium\tChemical\t-1\n"
    "11\tCID\tD008094\tD014202\n\n"
    "22|t|Second doc.\n22|a|Mentions nothing.\n\n"
)


def test_pubtator_document_entities_relations(tmp_path):
    path = tmp_path / "a.txt"
    path.write_text(PUBTATOR, encoding="utf-8")
    docs, rejects = read("pubtator", path)
    assert [d.id for d in docs] == ["11", "22"]
    doc = docs[0]
    assert doc.text.startswith("Lithium causes tremor. Tremor")
    assert [e.mention for e in doc.entities] == ["Lithium", "tremor", "Tremor", "lithium"]
    assert doc.entities[3].normalized == []  # id -1 means no concept
    assert [(r.type, doc.entity(r.arg1_id).mention, doc.entity(r.arg2_id).mention) for r in doc.relations] == [
        ("CID", "Lithium", "tremor")]
    assert rejects == []


def test_pubtator_gzip_and_composite_ids(tmp_path):
    path = tmp_path / "a.txt.gz"
    body = "5|t|Ovarian and breast cancer.\n5\t0\t25\tOvarian and breast cancer\tDisease\tD010051|D001943\n"
    path.write_bytes(gzip.compress(body.encode()))
    docs, _ = read("pubtator", path)
    assert [n.db_id for n in docs[0].entities[0].normalized] == ["D010051", "D001943"]


def test_pubtator_bad_lines_are_reported_not_fatal(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_text(
        "7|t|Aspirin helps.\n"
        "7\t0\t7\tAsprin\tChemical\tD1\n"        # mention differs from text
        "7\t3\t99\tpirin helps\tChemical\tD1\n"  # span outside the text
        "7\t0\t7\n"                               # too few columns
        "7\tCID\tD9\tD8\n\n"                      # relation to concepts never mentioned
        "8|t|Fine.\n8\t0\t4\tFine\tChemical\tD2\n", encoding="utf-8")
    docs, rejects = read("pubtator", path)
    assert [d.id for d in docs] == ["7", "8"]
    reasons = [(r.line, r.field, r.action) for r in rejects]
    assert (2, "text", "dropped") in reasons
    assert (3, "offsets", "dropped") in reasons
    assert (4, "columns", "dropped") in reasons
    assert any(r.field == "relation" for r in rejects)
    assert all(r.file == str(path) and r.dataset == "ds" and r.record_id == "7" for r in rejects)


def test_pubtator_repeated_pmid_gets_distinct_ids(tmp_path):
    path = tmp_path / "dup.txt"
    path.write_text("9|t|One.\n\n9|t|Two.\n\n", encoding="utf-8")
    docs, _ = read("pubtator", path)
    assert [d.id for d in docs] == ["9", "9~1"]
    assert {d.document_id for d in docs} == {"9"}


def test_pubtator_empty_file_and_wrong_encoding(tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n", encoding="utf-8")
    docs, rejects = read("pubtator", empty)
    assert docs == [] and rejects[0].reason == "the file is empty"
    latin = tmp_path / "latin.txt"
    latin.write_bytes("3|t|Caf\u00e9 study.\n".encode("latin-1"))
    docs, rejects = read("pubtator", latin)
    assert docs == [] and "not valid utf-8" in rejects[0].reason and rejects[0].line == 1


def test_cmeee_v1_inclusive_and_v2_exclusive(tmp_path):
    v2 = tmp_path / "v2.json"
    v2.write_text(json.dumps([{"text": "患者头痛发热", "entities": [
        {"start_idx": 2, "end_idx": 4, "type": "sym", "entity": "头痛"}]}], ensure_ascii=False), encoding="utf-8")
    v1 = tmp_path / "v1.json"
    v1.write_text(json.dumps([{"text": "患者头痛发热", "entities": [
        {"start_idx": 2, "end_idx": 3, "type": "sym", "entity": "头痛"}]}], ensure_ascii=False), encoding="utf-8")
    (doc2,), _ = read("cmeee", v2)
    (doc1,), _ = read("cmeee", v1, {"end_inclusive": True})
    assert doc1.entities[0].offsets == doc2.entities[0].offsets == [(2, 4)]
    _, rejects = read("cmeee", v1)  # read as V2 the same file shifts every span: reported
    assert rejects and rejects[0].action == "dropped"


def test_cmeee_truncated_json_and_unknown_label(tmp_path):
    cut = tmp_path / "cut.json"
    cut.write_text('[{"text": "头痛", "entities": []}, {"text": "发', encoding="utf-8")
    docs, rejects = read("cmeee", cut)
    assert docs == [] and "truncated" in rejects[0].reason and rejects[0].line == 1
    odd = tmp_path / "odd.json"
    odd.write_text(json.dumps([{"text": "头痛", "entities": [
        {"start_idx": 0, "end_idx": 2, "type": "xyz", "entity": "头痛"}]}], ensure_ascii=False), encoding="utf-8")
    (doc,), rejects = read("cmeee", odd, labels=["sym", "dis"])
    assert doc.entities == [] and "unknown entity type 'xyz'" in rejects[0].reason


def test_tabular_csv_mapping_short_rows_and_encoding(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("id,text,label\n1,good text,a;b\n2,short\n3,\"quoted, text\",b\n", encoding="utf-8")
    options = {"kind": "tc", "multi_label": True, "label_separator": ";", "id_field": "id",
               "fields": {"text": "text", "labels": "label"}}
    docs, rejects = read("tabular", path, options)
    assert [(d.document_id, d.labels) for d in docs] == [("1", ["a", "b"]), ("3", ["b"])]
    assert rejects[0].line == 3 and "2 columns, expected 3" in rejects[0].reason
    gbk = tmp_path / "g.csv"
    gbk.write_bytes("id,text,label\n1,头痛怎么办,a\n".encode("gb18030"))
    docs, rejects = read("tabular", gbk, options)
    assert docs == [] and "gb18030" not in rejects[0].reason and "encoding" in rejects[0].reason
    docs, _ = read("tabular", gbk, {**options, "encoding": "gb18030"})
    assert docs[0].text == "头痛怎么办"


def test_tabular_jsonl_multiple_choice_letter_and_bad_line(tmp_path):
    path = tmp_path / "q.jsonl"
    path.write_text('{"q": "Which?", "options": {"A": "x", "B": "y"}, "ans": "B"}\n{"q": broken\n'
                    '{"q": "Other?", "options": {"A": "x", "B": "y"}, "ans": "C"}\n', encoding="utf-8")
    options = {"kind": "qa", "qa_type": "multiple_choice", "answer_is": "letter",
               "fields": {"question": "q", "choices": "options", "answer": "ans"}}
    docs, rejects = read("tabular", path, options)
    assert [(d.choices, d.answer) for d in docs] == [(["x", "y"], ["y"])]
    assert [r.line for r in rejects] == [2, 3]


def test_records_without_ids_get_ids_no_other_file_of_the_split_has(tmp_path):
    # a split sharded into files whose records carry no id: ids from positions alone ("line1") would
    # repeat in every file, and so would the examples' ranks, templates and record ids
    options = {"kind": "qa", "qa_type": "multiple_choice", "answer_is": "letter",
               "fields": {"question": "q", "choices": "options", "answer": "ans"}}
    ids = []
    for name in ("part_0.jsonl", "part_1.jsonl"):
        path = tmp_path / name
        path.write_text('{"q": "Which?", "options": {"A": "x", "B": "y"}, "ans": "B"}\n'
                        '{"id": "q7", "q": "Own id?", "options": {"A": "x", "B": "y"}, "ans": "A"}\n', encoding="utf-8")
        docs, _ = read("tabular", path, options)
        ids.append([d.id for d in docs])
    assert ids == [["part_0:line1", "q7"], ["part_1:line1", "q7"]]
