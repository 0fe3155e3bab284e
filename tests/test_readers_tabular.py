"""Generic tabular reader on tiny files: declared encodings, header or not (or auto), filters, unlabeled splits.

Covers GB18030 CSV with quoted newlines, short rows, unknown labels and wrong encodings.
"""

from __future__ import annotations

from conftest import DATA, reasons

D = DATA / "tabular"
TC = {"kind": "tc", "file_format": "tsv", "quoting": False, "columns": ["sentence", "label"],
      "fields": {"text": "sentence", "labels": "label"}}
QQR = {"kind": "tp", "id_field": "id", "fields": {"text_1": "query1", "text_2": "query2", "label": "label"}}


def test_gb18030_csv_with_quoted_newline(read) -> None:
    opts = {"kind": "qa", "encoding": "gb18030", "fields": {"question": "ask", "answer": "answer"}}
    (doc,), ctx = read("tabular", D / "gb18030.csv", opts)
    assert (doc.question, doc.answer) == ("头痛怎么办，\n很难受", ["多休息"]) and ctx.rejects == []
    docs, ctx = read("tabular", D / "gb18030.csv", {**opts, "encoding": "utf-8"})
    assert docs == [] and "not valid utf-8" in reasons(ctx)[0] and ctx.rejects[0].line == 2


def test_header_auto_and_short_rows(read) -> None:
    docs, ctx = read("tabular", D / "no_header.tsv", {**TC, "header": "auto"}, labels=("0", "1"))
    assert [d.labels for d in docs] == [["1"], ["0"]]
    assert reasons(ctx) == ["row has 1 columns, expected 2 (sentence, label)"] and ctx.rejects[0].line == 3
    docs, ctx = read("tabular", D / "header.tsv", {**TC, "header": "auto"}, labels=("0", "1"))
    assert [d.text for d in docs] == ["A @GENE$ sentence."]
    assert reasons(ctx) == ["unknown label ['7']"] and ctx.rejects[0].line == 3


def test_unlabeled_and_unknown_labels(read) -> None:
    docs, ctx = read("tabular", D / "pairs.json", QQR, labels=("0", "1", "2"))
    assert [d.id for d in docs] == ["s1"]
    assert reasons(ctx) == ["unknown label 'NA'", "label '' is empty or in skip_labels"]
    docs, ctx = read("tabular", D / "pairs.json", {**QQR, "unlabeled": "keep"}, labels=("0", "1", "2"))
    assert [(d.id, d.label) for d in docs] == [("s1", "1"), ("s3", "")] and ctx.stats["unlabeled"] == 1


def test_where_filter_counts_the_rest(read) -> None:
    docs, ctx = read("tabular", D / "no_header.tsv", {**TC, "header": False, "where": {"label": "1"}})
    assert len(docs) == 1 and ctx.stats["filtered"] == 1


def test_empty_file(read) -> None:
    docs, ctx = read("tabular", D / "empty.csv", {"kind": "tc", "fields": {"text": "a", "labels": "b"}})
    assert docs == [] and reasons(ctx) == ["the file is empty"]
