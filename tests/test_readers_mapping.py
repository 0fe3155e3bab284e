"""The declarative record mapping (curate/readers/mapping.py) on tiny files of our own.

Paths, transforms, explode, joins, XLSX, the opt-in pickle reader with its refusing unpickler, and the
hostile tabular cases of issue 12: an unterminated CSV quote, an `mt` record lacking a language, JSON
nested too deeply, a malformed QA `choices` cell, bare NaN in JSON lines. Each bad record is a named
reject and counts reconcile: records read = documents + rejected.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
from conftest import DATA, reasons

from curate.catalog import load_catalog
from curate.errors import CatalogError
from curate.readers.mapping import MISSING, FieldSpec, MappingProblem, extract, get_path, parse_path

D = DATA / "mapping"
CSV_TC = {"kind": "tc", "id_field": "id", "fields": {"text": "text", "labels": "label"}}


# ---------------------------------------------------------------- paths and transforms


def test_paths_reach_into_nested_records() -> None:
    record = {"a": {"b": [{"c": 1}, {"c": 2}, {"d": 3}]}, "Valid Label": "x", "k.v": "dotted"}
    assert parse_path("a.b[0].c") == ["a", "b", 0, "c"]
    assert get_path(record, "a.b[1].c") == 2
    assert get_path(record, "a.b[*].c") == [1, 2]
    assert get_path(record, "a.b[-1].d") == 3
    assert get_path(record, "Valid Label") == "x" and get_path(record, "k.v") == "dotted"
    assert get_path(record, "a.x") is MISSING and get_path(record, "a.b[9]") is MISSING
    with pytest.raises(ValueError, match="bad path"):
        parse_path("a..b")


def test_transforms_in_order() -> None:
    def run(value: object, *transforms: object) -> object:
        return extract({"v": value}, FieldSpec(path="v", transforms=list(transforms)), "f")

    assert run("  a &amp; b ", "html_unescape", "strip") == "a & b"
    assert [run(x, "strip_choice_prefix") for x in ("(A) yes", "B. no", "C) maybe", "Dx")] == \
        ["yes", "no", "maybe", "Dx"]
    assert run("1", {"map": {"1": "related"}}) == "related"
    assert run("a##b", {"split": "##"}) == ["a", "b"]
    assert run("9.320", {"score": "{:g}"}) == "9.32"
    bins = {"bins": {"edges": [2.5, 5.0], "labels": ["low", "mid", "high"]}}
    assert [run(x, bins) for x in ("0", "2.5", "4.9", "10")] == ["low", "low", "mid", "high"]
    with pytest.raises(MappingProblem, match="not a number"):
        run("n/a", bins)
    assert extract({"a": 1}, FieldSpec(const="fixed"), "f") == "fixed"
    assert extract({"a": {"b": "x"}}, FieldSpec(template="<{a[b]}|{missing}>"), "f") == "<x|>"


# ---------------------------------------------------------------- explode, join, list filter, XLSX


def test_explode_a_query_into_query_document_pairs(read) -> None:
    opts = {"kind": "tp", "records_path": "data", "id_field": "qid",
            "explode": {"path": "docs", "as": "doc", "id_path": "did"},
            "fields": {"text_1": {"path": "query", "transforms": ["html_unescape", "strip"]},
                       "text_2": {"path": "doc.title", "transforms": ["strip_choice_prefix"]},
                       "label": "doc.rel"}}
    docs, ctx = read("tabular", D / "nested.json", opts)
    assert [(d.id, d.text_1, d.text_2, d.label) for d in docs] == [
        ("d1", "fever & cough", "Influenza", "2"), ("d2", "fever & cough", "Common cold", "0"),
        ("d3", "rash", "Measles", "1")]
    assert ctx.rejects == [] and ctx.stats["exploded_empty"] == 1


def test_join_a_second_file_and_per_record_texts(read) -> None:
    opts = {"kind": "tp", "id_field": "ann",
            "join": [{"file": "docs.tsv", "record_key": "doc", "as": "document"},
                     {"file": "texts/{doc}.txt", "as": "full_text", "text": True}],
            "fields": {"text_1": "document.body", "text_2": "full_text", "label": "label"}}
    docs, ctx = read("tabular", D / "annotations.csv", opts)
    assert [(d.id, d.text_1, d.text_2) for d in docs] == [
        ("a1", "First document body.", "Text of D1."), ("a2", "Second document body.", "Text of D2.")]
    (reject,) = ctx.rejects
    assert (reject.record_id, reject.field, reject.line) == ("a3", "document", 4)
    assert "no match in the joined file (docs.tsv doc=D9)" in reject.reason
    opts["join"] = opts["join"][1:]
    docs, ctx = read("tabular", D / "annotations.csv", {**opts, "fields": {**opts["fields"], "text_1": "doc"}})
    assert [d.id for d in docs] == ["a1", "a2"]
    assert reasons(ctx) == ["no match in the joined file (texts/D9.txt: file not found)"]


def test_listed_keeps_the_records_of_the_split(read, tmp_path: Path) -> None:
    data = tmp_path / "ann.csv"
    data.write_text((D / "annotations.csv").read_text())
    (tmp_path / "dev_ids.txt").write_text("D2\n")
    opts = {**CSV_TC, "id_field": "ann", "fields": {"text": "doc", "labels": "label"},
            "listed": {"record_key": "doc", "files": {"dev": "dev_ids.txt"}}}
    docs, ctx = read("tabular", data, opts, split="dev")
    assert [d.id for d in docs] == ["a2"] and ctx.stats["not_listed"] == 2
    docs, ctx = read("tabular", data, opts, split="train")
    assert docs == [] and "no list for split 'train'" in reasons(ctx)[0]


def test_xlsx_sheet_with_a_header(read, tmp_path: Path) -> None:
    from openpyxl import Workbook

    book = Workbook()
    book.active.title = "Other"
    sheet = book.create_sheet("QS")
    for row in (["File", "CHQ", "Summary"], ["f1", "SUBJECT: a\nMESSAGE: long question ", "short?"],
                [None, None, None], ["f2", "second", "two?"]):
        sheet.append(row)
    path = tmp_path / "tiny.xlsx"
    book.save(path)
    opts = {"kind": "t2t", "sheet": "QS", "id_field": "File",
            "fields": {"input": {"path": "CHQ", "transforms": ["strip"]}, "output": "Summary"}}
    docs, ctx = read("tabular", path, opts)
    assert [(d.id, d.input, d.output) for d in docs] == [
        ("f1", "SUBJECT: a\nMESSAGE: long question", "short?"), ("f2", "second", "two?")]
    docs, ctx = read("tabular", path, {**opts, "sheet": "Nope"})
    assert docs == [] and reasons(ctx) == ["no sheet 'Nope' (sheets: Other, QS)"]


def test_json_lines_named_json_with_fallback_encoding(read, tmp_path: Path) -> None:
    path = tmp_path / "gbk.json"
    path.write_bytes('{"q": "头痛", "a": "休息"}\r\n{"q": "发热", "a": "补液"}'.encode("gb18030"))
    opts = {"kind": "qa", "fields": {"question": "q", "answer": "a"}}
    docs, ctx = read("tabular", path, opts)
    assert docs == [] and "declare the file's `encoding`" in reasons(ctx)[0]
    docs, ctx = read("tabular", path, {**opts, "fallback_encodings": ["gb18030"]})
    assert [d.question for d in docs] == ["头痛", "发热"] and ctx.stats["files_decoded_as_gb18030"] == 1


# ---------------------------------------------------------------- issue 12: hostile tabular input


def test_unterminated_quote_rejects_its_row_and_keeps_the_rest(read) -> None:
    docs, ctx = read("tabular", D / "unterminated.csv", CSV_TC)
    assert [d.id for d in docs] == ["2", "3", "4", "5"]
    assert docs[2].text == 'properly "quoted", with a comma' and docs[3].text == "a cell\nover two lines"
    (reject,) = ctx.rejects
    assert (reject.line, reject.field) == (2, "(csv)") and "never closed" in reject.reason
    assert len(docs) + ctx.rejected_records == 5  # five records in the file


def test_only_cr_and_lf_end_csv_rows(read, tmp_path: Path) -> None:
    path = tmp_path / "odd.csv"
    path.write_bytes("id,text,label\r1,line\u2028separator and\x0cform feed,0\r\n2,bare CR ends this,1\r".encode())
    docs, ctx = read("tabular", path, CSV_TC)
    assert [(d.id, d.text) for d in docs] == [("1", "line\u2028separator and\x0cform feed"),
                                               ("2", "bare CR ends this")] and ctx.rejects == []


def test_multiline_cells_can_be_refused(read) -> None:
    docs, ctx = read("tabular", D / "unterminated.csv", {**CSV_TC, "multiline_cells": False})
    assert [d.id for d in docs] == ["2", "3", "4"] and [r.line for r in ctx.rejects] == [2, 6, 7]
    assert len(docs) + ctx.rejected_records == 6  # without multi-line cells each of the 6 lines is a record


def test_unterminated_quote_does_not_swallow_rows_silently(read) -> None:
    docs, ctx = read("tabular", D / "swallowed.csv", CSV_TC)
    assert [d.id for d in docs] == ["2", "3", "4"]
    assert [r.line for r in ctx.rejects] == [2] and len(docs) + ctx.rejected_records == 4


def test_mt_record_lacking_a_language_is_a_named_reject(read) -> None:
    docs, ctx = read("tabular", D / "mt.jsonl", {"kind": "mt", "languages": ["en", "zh"],
                                                  "fields": {"en": "en", "zh": "zh"}})
    assert [d.texts for d in docs] == [{"en": "aspirin", "zh": "阿司匹林"}]
    (reject,) = ctx.rejects
    assert (reject.line, reject.field, reject.reason) == (2, "zh", "column 'zh' (for zh) is missing")


def test_json_nested_too_deeply_is_a_named_reject(read, tmp_path: Path) -> None:
    lines = tmp_path / "deep.jsonl"
    lines.write_text('{"q": "a", "a": "b"}\n' + '{"q": ' + "[" * 100_000 + "]" * 100_000 + "}\n"
                     + '{"q": "c", "a": "d"}\n')
    opts = {"kind": "qa", "fields": {"question": "q", "answer": "a"}}
    docs, ctx = read("tabular", lines, opts)
    assert [d.question for d in docs] == ["a", "c"]
    assert [(r.line, r.field, r.reason) for r in ctx.rejects] == [(2, "(json)", "JSON nested too deeply to read")]
    array = tmp_path / "deep.json"
    array.write_text("[" * 100_000 + "]" * 100_000)
    docs, ctx = read("tabular", array, opts)
    assert docs == [] and reasons(ctx) == ["JSON nested too deeply to read"]


def test_malformed_choices_cell_is_a_named_reject(read) -> None:
    opts = {"kind": "qa", "qa_type": "multiple_choice", "fields": {"question": "question", "choices": "options",
                                                                   "answer": "answer"}}
    docs, ctx = read("tabular", D / "choices.jsonl", opts)
    assert [(d.question, d.answer) for d in docs] == [("Which one?", ["b"])]
    assert [(r.line, r.field) for r in ctx.rejects] == [(1, "choices"), (3, "choices")]
    assert "not valid JSON" in ctx.rejects[0].reason and len(docs) + ctx.rejected_records == 3


def test_bare_nan_in_json_lines(read) -> None:
    docs, ctx = read("tabular", D / "nan.jsonl", {"kind": "tc", "fields": {"text": "text", "labels": "label"}})
    assert [d.text for d in docs] == ["fine"]
    assert [(r.line, r.field) for r in ctx.rejects] == [(2, "text"), (3, "labels")]
    assert "NaN" in ctx.rejects[0].reason


# ---------------------------------------------------------------- pickle and RAR


class _Evil:
    """Unpickling this runs ``Path.touch`` on the marker: the test asserts it never happens."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (Path.touch, (str(self.marker),))  # type: ignore[return-value]


def test_pickle_opt_in_reads_plain_containers_and_refuses_references(read, tmp_path: Path) -> None:
    plain = tmp_path / "topics.pk"
    plain.write_bytes(pickle.dumps({"胃炎": 0, "便秘": 1}, protocol=3))
    value = {"path": "value", "transforms": [{"score": "{:.0f}"}]}
    opts = {"kind": "tc", "allow_pickle": True, "fields": {"text": "key", "labels": value}}
    docs, ctx = read("tabular", plain, opts)
    assert [(d.text, d.labels) for d in docs] == [("胃炎", ["0"]), ("便秘", ["1"])] and ctx.rejects == []

    marker = tmp_path / "executed"
    evil = tmp_path / "evil.pkl"
    evil.write_bytes(pickle.dumps([{"key": "a", "value": 1}, _Evil(marker)], protocol=3))
    docs, ctx = read("tabular", evil, opts)
    assert docs == [] and not marker.exists()
    (reject,) = ctx.rejects
    assert reject.field == "(pickle)" and "refused the reference to builtins.getattr" in reject.reason
    crafted = tmp_path / "crafted.pk"  # protocol 0 by hand: os.system("touch MARKER")
    crafted.write_bytes(b"(lp0\n(dp1\nVkey\np2\nVa\np3\nsacos\nsystem\n(S'touch " + str(marker).encode()
                        + b"'\ntRa.")
    docs, ctx = read("tabular", crafted, opts)
    assert docs == [] and not marker.exists()
    assert reasons(ctx) == ["pickle not read: refused the reference to os.system: only plain containers are read"]
    docs, ctx = read("tabular", plain, {**opts, "allow_pickle": False})
    assert docs == [] and "allow_pickle" in reasons(ctx)[0]


def _catalog(tmp_path: Path, file: str, options: str) -> Path:
    (tmp_path / "templates").mkdir(exist_ok=True)
    path = tmp_path / "catalog.yaml"
    path.write_text(f"""version: 1
templates: templates
datasets:
- name: tiny
  language: zh
  tasks: [tc]
  format: tabular
  options: {{kind: tc, fields: {{text: key, labels: value}}{options}}}
  files:
    train: {file}
""")
    return path


def test_catalog_refuses_a_pickle_without_opt_in(tmp_path: Path) -> None:
    (tmp_path / "topics.pk").write_bytes(pickle.dumps({"a": 1}))
    with pytest.raises(CatalogError) as info:
        load_catalog(_catalog(tmp_path, "topics.pk", ""))
    assert info.value.key == "datasets[0] (tiny).files.train"
    assert "pickle" in info.value.problem and "allow_pickle: true" in info.value.fix
    assert load_catalog(_catalog(tmp_path, "topics.pk", ", allow_pickle: true")).dataset("tiny")


def test_catalog_names_what_a_rar_archive_needs(tmp_path: Path) -> None:
    (tmp_path / "corpus.rar").write_bytes(b"Rar!\x1a\x07\x00")
    with pytest.raises(CatalogError) as info:
        load_catalog(_catalog(tmp_path, "corpus.rar!train.json", ""))
    assert "RAR" in info.value.problem and "rarfile" in info.value.problem and "unrar" in info.value.fix


@pytest.mark.parametrize(("reader", "options"), [("cmeee", {}), ("imcs", {}), ("pubmedqa", {}), ("bioasq", {})])
def test_other_json_readers_reject_deep_nesting(read, tmp_path: Path, reader: str, options: dict) -> None:
    path = tmp_path / "deep.json"
    path.write_text('{"a": ' * 100_000 + "1" + "}" * 100_000 if reader != "cmeee" else "[" * 100_000)
    docs, ctx = read(reader, path, options)
    assert docs == [] and reasons(ctx) == ["JSON nested too deeply to read"]


@pytest.mark.parametrize(("fields", "extra", "message"), [
    ({"text": {"path": "a", "transforms": ["stripp"]}}, {}, "text.transforms.stripp: Extra inputs are not permitted"),
    ({"text": {"path": "a..b"}}, {}, "text.path: bad path 'a..b' at character 1: use a.b, a[0].b or a[*].b"),
    ({"text": "a", "labels": {"path": "s", "transforms": [{"bins": {"edges": [1], "labels": ["x"]}}]}}, {},
     "labels.transforms.bins.labels: bins need one more label than edges (1 edges, 1 labels)"),
    ({}, {"join": [{"file": "x.csv", True: "a", "as": "b"}]}, "the key `on` is read by YAML as true"),
    ({}, {"encoding": "utf-9"}, "unknown encoding 'utf-9'"),
])
def test_bad_mapping_options_name_the_key(fields: dict, extra: dict, message: str) -> None:
    from curate.readers import validate_reader_options

    problem = validate_reader_options("tabular", {"kind": "tc", "fields": {"text": "a", "labels": "l", **fields},
                                                  **extra})
    assert problem is not None and message in problem


def test_one_json_object_keyed_or_pretty_printed(read, tmp_path: Path) -> None:
    keyed = tmp_path / "keyed.json"
    keyed.write_text('{\n  "101": {"q": "Is it?", "a": "yes"},\n  "102": {"q": "Why?", "a": "because"}\n}')
    opts = {"kind": "qa", "fields": {"question": "q", "answer": "a"}}
    docs, ctx = read("tabular", keyed, opts)
    assert docs == [] and "keyed_records: true" in reasons(ctx)[0]
    docs, ctx = read("tabular", keyed, {**opts, "keyed_records": True})
    assert [(d.id, d.question) for d in docs] == [("101", "Is it?"), ("102", "Why?")] and ctx.rejects == []
    single = tmp_path / "one_line.json"
    single.write_text('{"q": "Only one?", "a": "yes"}\n')
    docs, ctx = read("tabular", single, opts)
    assert [d.question for d in docs] == ["Only one?"]


def test_a_broken_workbook_is_a_named_reject(read, tmp_path: Path) -> None:
    path = tmp_path / "broken.xlsx"
    path.write_bytes(b"PK\x03\x04 not really a workbook")
    docs, ctx = read("tabular", path, {"kind": "t2t", "fields": {"input": "a", "output": "b"}})
    assert docs == [] and reasons(ctx)[0].startswith("cannot read the XLSX workbook")


def test_cli_refuses_a_pickle_without_a_traceback(tmp_path: Path) -> None:
    import subprocess
    import sys

    (tmp_path / "topics.pk").write_bytes(pickle.dumps({"a": 1}))
    catalog = _catalog(tmp_path, "topics.pk", "")
    done = subprocess.run([sys.executable, "-m", "curate", "validate", "-c", str(catalog)], capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert "datasets[0] (tiny).files.train" in done.stderr and "allow_pickle: true" in done.stderr
