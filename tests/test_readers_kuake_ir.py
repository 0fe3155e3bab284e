"""KUAKE-IR: qrels joined with queries and passages; hash-chosen negatives; bad lines named."""

from pathlib import Path

from curate.readers import ReadContext, get_reader

DATA = Path(__file__).parent / "data/readers/kuake_ir"


def read(options=None):
    ctx = ReadContext("kuake_ir", "train", "KUAKE-IR_train.tsv")
    docs = list(get_reader("kuake_ir", options).read(str(DATA / "KUAKE-IR_train.tsv"), ctx))
    return docs, ctx.rejects


def test_pairs_with_relevant_and_deterministic_negatives():
    docs, _ = read()
    positives = [(d.text_1, d.text_2) for d in docs if d.label == "relevant"]
    assert positives == [("高血压吃什么", "高血压患者应低盐饮食。"), ("糖尿病怎么办", "糖尿病需要控制血糖。")]
    negatives = [d for d in docs if d.label == "irrelevant"]
    assert len(negatives) == 2
    assert all((d.text_1, d.text_2) not in positives for d in negatives)
    again, _ = read()
    assert [d.model_dump() for d in again] == [d.model_dump() for d in docs]
    assert [d.label for d in read({"negatives_per_query": 0})[0]] == ["relevant", "relevant"]


def test_bad_lines_and_unknown_ids_are_named():
    _, rejects = read()
    reasons = {(r.file, r.line, r.field) for r in rejects}
    assert ("KUAKE-IR_train.tsv", 3, "query_id") in reasons  # q9 has no query text
    assert ("KUAKE-IR_train.tsv", 4, "doc_id") in reasons  # d7 is not in the corpus
    assert ("KUAKE-IR_train.tsv", 5, "(columns)") in reasons  # qrels line without a doc id
    assert any(r.field == "(columns)" and r.line == 4 and "corpus" in r.reason for r in rejects)


def test_missing_query_file_is_a_reject_not_a_crash(tmp_path):
    (tmp_path / "corpus.tsv").write_text("d1\tx\n", encoding="utf-8")
    (tmp_path / "KUAKE-IR_dev.tsv").write_text("q1\td1\n", encoding="utf-8")
    ctx = ReadContext("kuake_ir", "dev", "KUAKE-IR_dev.tsv")
    docs = list(get_reader("kuake_ir").read(str(tmp_path / "KUAKE-IR_dev.tsv"), ctx))
    assert docs == [] and "cannot open" in ctx.rejects[0].reason
