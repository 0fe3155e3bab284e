"""QA readers on tiny files: PubMedQA with a ground-truth split, BioASQ types, MEDIQA RQE/QA, MedQA via tabular.

Bad questions (no text, no answer, unknown label, truncated file) are rejected by id.
"""

from __future__ import annotations

from conftest import DATA, reasons

D = DATA / "qa"


def test_pubmedqa_all_and_bad_records(read) -> None:
    docs, ctx = read("pubmedqa", D / "pubmedqa.json", {"context_section_labels": True})
    assert [d.id for d in docs] == ["1", "2"]
    assert docs[0].context == "RESULTS: It does.\nCONCLUSIONS: Really." and docs[0].long_answer == "Yes it helps."
    assert {r.record_id: r.reason for r in ctx.rejects} == {
        "3": "yes/no answer must be yes, no or maybe, got ['perhaps']", "4": "record has no string QUESTION"}


def test_pubmedqa_ground_truth_splits(read) -> None:
    opts = {"ground_truth_file": "truth.json"}
    train, _ = read("pubmedqa", D / "pubmedqa.json", opts, split="train")
    test, _ = read("pubmedqa", D / "pubmedqa.json", opts, split="test")
    assert [d.id for d in train] == ["1"]
    assert [(d.id, d.answer) for d in test] == [("2", ["maybe"]), ("3", ["no"])]  # the ground truth answers


def test_bioasq_types(read) -> None:
    docs, ctx = read("bioasq", D / "bioasq.json")
    got = {d.id: (d.qa_type, d.answer) for d in docs}
    assert got == {"y1": ("yesno", ["yes"]), "f1": ("free", ["aspirin", "ibuprofen"]), "l1": ("free", ["A", "B"]),
                   "s1": ("free", ["X is described."])}
    assert docs[0].context == "X is a gene."
    assert {r.record_id: r.reason for r in ctx.rejects} == {
        "f2": "factoid question without an answer", "z1": "unknown question type 'essay'"}
    docs, _ = read("bioasq", D / "bioasq.json", {"synonyms": "all", "types": ["factoid"]})
    assert [d.answer for d in docs] == [["aspirin", "ASA", "ibuprofen"]]


def test_mediqa_rqe_and_qa(read) -> None:
    docs, ctx = read("mediqa_xml", D / "rqe.xml", labels=("true", "false"))
    assert [(d.id, d.subtask, d.label) for d in docs] == [("1", "te", "true"), ("2", "te", "false")]
    assert {r.record_id: r.field for r in ctx.rejects} == {"3": "value", "4": "chq/faq"}
    docs, ctx = read("mediqa_xml", D / "mediqa_qa.xml")
    assert [(d.id, d.answer) for d in docs] == [("7", ["Best.", "Second best."])]  # by reference rank, score >= 3
    assert [r.record_id for r in ctx.rejects] == ["8"]


def test_medqa_jsonl_through_tabular(read) -> None:
    opts = {"kind": "qa", "qa_type": "multiple_choice", "answer_is": "letter",
            "fields": {"question": "question", "choices": "options", "answer": "answer_idx"}}
    docs, ctx = read("tabular", D / "medqa.jsonl", opts)
    assert [(d.choices, d.answer) for d in docs] == [(["x", "y", "z", "w"], ["y"])]
    assert [(r.line, r.field) for r in ctx.rejects] == [(2, "(json)"), (3, "answer")]


def test_truncated_files(read) -> None:
    for reader, name in (("pubmedqa", "truncated.json"), ("bioasq", "truncated.json"), ("mediqa_xml", "truncated.xml")):
        docs, ctx = read(reader, D / name)
        assert docs == [] and ("invalid JSON" in reasons(ctx)[0] or "invalid XML" in reasons(ctx)[0]), reader
