"""Hostile and careless inputs: every bad record becomes a named reject with counts that reconcile, every bad
catalog, template or config fails fast with a message naming the file, the key and the fix, and no traceback
reaches the user. The data is tiny and our own, written by each test."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from curate.cli import app

TC_LABELS = "labels: {pos: {en: positive, zh: 阳性}, neg: {en: negative, zh: 阴性}}"


def write_rows(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def tc_catalog(repo: Path, tmp: Path, files: str, extra_entry: str = "", output: str = "",
               evals: str = "[test]", templates: Path | None = None) -> Path:
    """A one-dataset text-classification catalog over JSONL files under ``tmp``."""
    path = tmp / "catalog.yaml"
    path.write_text(
        f"templates: {templates or repo / 'instruction_templates'}\n{output}\nstages: [{{name: all}}]\n"
        "datasets:\n  - name: tiny\n    language: en\n    tasks: [tc]\n    format: tabular\n"
        "    options: {kind: tc, id_field: id, fields: {text: text, labels: label}}\n"
        f"    files: {files}\n    eval_splits: {evals}\n    {TC_LABELS}\n{extra_entry}", encoding="utf-8")
    return path


def tc_rows(n: int, prefix: str = "r") -> list[dict[str, Any]]:
    return [{"id": f"{prefix}{i}", "text": f"Sample sentence number {i} about aspirin and {prefix}.",
             "label": "pos" if i % 2 else "neg"} for i in range(n)]


def cli(*args: str) -> Any:
    return CliRunner().invoke(app, list(args))


def assert_named_failure(result: Any, *names: str) -> None:
    """Exit status 1 (bad data, not bad usage: the CLI's convention), a message naming each of ``names``, and no
    traceback."""
    text = result.output + (result.stderr if result.stderr_bytes is not None else "")
    assert result.exit_code == 1, (result.exit_code, text, result.exception)
    assert "Traceback" not in text
    for name in names:
        assert name in text, (name, text)


def reconciles(manifest: dict[str, Any]) -> None:
    for splits in manifest["sources"].values():
        for counts in splits.values():
            assert counts["read"] == counts["documents"] + counts["rejected"]


# --- a record longer than output.max_chars ---------------------------------------------------------------

@pytest.mark.ray
def test_record_over_max_chars_in_eval_split_is_a_reject_not_a_crash(ray_local, repo, tmp_path):
    from curate.build import run_build
    from curate.catalog import load_catalog
    from curate.validate import validate_catalog

    write_rows(tmp_path / "train.jsonl", tc_rows(6))
    test = tc_rows(3, "t")
    test[1]["text"] = "A very long abstract sentence. " * 300  # ~9,300 characters > max_chars 6,000
    write_rows(tmp_path / "test.jsonl", test)
    catalog = tc_catalog(repo, tmp_path, "{train: train.jsonl, test: test.jsonl}")
    result = run_build(catalog, tmp_path / "out", workers=1, progress=False)
    rejects = [json.loads(line) for line in (result.out_dir / "rejects/tiny.jsonl").read_text().splitlines()]
    assert [(r["split"], r["record_id"], r["reason"][:8]) for r in rejects] == [("test", "t1", "too long")]
    assert result.manifest["outputs"]["eval"]["rows"] == 2
    reconciles(result.manifest)
    rows, _ = validate_catalog(load_catalog(catalog))
    assert {r["split"]: r.get("too_long", 0) for r in rows} == {"test": 1, "train": 0}


@pytest.mark.ray
def test_shared_bioasq_builds_with_default_output_settings(ray_local, shared_catalog_path, tmp_path):
    """The shared test catalog's BioASQ test set holds a record over max_chars: it was a crash."""
    import yaml

    from curate.build import run_build

    doc = yaml.safe_load(shared_catalog_path.read_text(encoding="utf-8"))
    base = shared_catalog_path.parent
    doc["templates"] = str((base / doc["templates"]).resolve())
    doc["datasets"] = [e for e in doc["datasets"] if e["name"] == "bioasq_6b"]
    for split, path in doc["datasets"][0]["files"].items():
        doc["datasets"][0]["files"][split] = str((base / path).resolve())
    doc.pop("output", None)  # default output settings
    catalog = tmp_path / "bioasq.yaml"
    catalog.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    result = run_build(catalog, tmp_path / "out", workers=2, progress=False)
    reasons = [json.loads(line)["reason"] for line in (result.out_dir / "rejects/bioasq_6b.jsonl").open()]
    assert any(r.startswith("too long") for r in reasons)
    reconciles(result.manifest)


# --- two builds into one --out -------------------------------------------------------------------------------

HOLD_LOCK = """
import sys, time
from pathlib import Path
from curate.outlock import output_lock
with output_lock(Path(sys.argv[1])):
    print("locked", flush=True)
    time.sleep(120)
"""


def test_second_build_into_a_busy_out_fails_at_once_naming_the_lock_and_holder(repo, tmp_path):
    import os
    import subprocess
    import sys
    import time

    out = tmp_path / "out"
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(out)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        write_rows(tmp_path / "train.jsonl", tc_rows(4))
        catalog = tc_catalog(repo, tmp_path, "{train: train.jsonl}", evals="[]")
        began = time.monotonic()
        second = subprocess.run([sys.executable, "-m", "curate", "build", "--catalog", str(catalog), "--out",
                                 str(out), "--no-progress"], capture_output=True, text=True, timeout=120,
                                env={**os.environ, "PYTHONPATH": str(repo)})
        assert second.returncode == 1, second.stderr
        assert time.monotonic() - began < 30  # at once: before Ray starts
        assert str(out / ".lock") in second.stderr and f"process {holder.pid}" in second.stderr
        assert "another --out" in second.stderr and "Traceback" not in second.stderr
        assert not (out / ".work").exists()  # the second build touched nothing
    finally:
        holder.kill()
        holder.wait()
    # the holder died without releasing anything: its lock is stale and is taken over
    assert (out / ".lock").exists()
    from curate.outlock import output_lock

    with output_lock(out) as lock:
        assert str(os.getpid()) in lock.read_text()
    assert not (out / ".lock").exists()


# --- templates that fail only when rendered, mid-build ---------------------------------------------------------

RUNTIME_FAILURES = {
    "undefined-attribute": ("{{ text.no_such_attribute }}", "UndefinedError"),
    "sandbox-violation": ("{{ text.__class__.__mro__[1].__subclasses__() }}", "SecurityError"),
    "huge-string": ("{{ 'a' * 10**9 }}{{ text }}", "SecurityError"),
    "runaway-loop": ("{% for i in range(99999) %}{{ text }}{% endfor %}", "RenderTooLarge"),
}


@pytest.mark.ray
@pytest.mark.parametrize("case", sorted(RUNTIME_FAILURES))
def test_template_failing_at_render_time_gives_named_rejects(ray_local, repo, tmp_path, case):
    from curate.build import run_build

    source, error = RUNTIME_FAILURES[case]
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "tc.yaml").write_text(
        "task: tc\ntemplates:\n  - id: tc-bad\n    lists_labels: true\n"
        f"    en: \"Classify: {source} {{{{ label_options | join(', ') }}}}\"\n"
        f"    zh: \"分类：{source} {{{{ label_options | join('，') }}}}\"\n", encoding="utf-8")
    write_rows(tmp_path / "train.jsonl", tc_rows(4))
    catalog = tc_catalog(repo, tmp_path, "{train: train.jsonl}", evals="[]", templates=templates)
    result = run_build(catalog, tmp_path / "out", workers=1, progress=False)
    rejects = [json.loads(line) for line in (result.out_dir / "rejects/tiny.jsonl").read_text().splitlines()]
    assert sorted(r["record_id"] for r in rejects) == ["r0", "r1", "r2", "r3"]  # one per example, named
    for r in rejects:
        assert "template tc-bad (tc.yaml" in r["reason"] and error in r["reason"] and r["field"] == "tc"
    (row,) = json.loads((result.out_dir / "all/manifest.json").read_text())["counts"]["by_dataset"]
    assert row["examples"] == (row["rejected"] + row["written"] + row["excluded"] + row["sampled_out"]
                               + row["deduplicated"])


# --- catalog, template and training-config errors: fail fast, named, no traceback ----------------------------

def _catalog_case(repo: Path, tmp: Path, case: str) -> tuple[Path, list[str]]:
    """A catalog with one mistake, and what the message must name (file, key, problem, fix)."""
    write_rows(tmp / "train.jsonl", tc_rows(4))
    write_rows(tmp / "test.jsonl", tc_rows(2, "t"))
    files = "{train: train.jsonl, test: test.jsonl}"
    if case == "unknown-encoding":
        path = tc_catalog(repo, tmp, files)
        path.write_text(path.read_text().replace("kind: tc,", "kind: tc, encoding: utf-9,"))
        return path, ["catalog.yaml", "datasets[0] (tiny).options", "encoding", "utf-9", "fix:", "gb18030"]
    if case == "non-text-codec":
        path = tc_catalog(repo, tmp, files)
        path.write_text(path.read_text().replace("kind: tc,", "kind: tc, encoding: base64,"))
        return path, ["datasets[0] (tiny).options", "encoding", "base64", "fix:"]
    if case == "train-split-without-files":
        path = tc_catalog(repo, tmp, files, extra_entry="    train_splits: [train, dev]\n")
        return path, ["datasets[0] (tiny).train_splits", "'dev' has no files", "fix: add files.dev"]
    if case == "eval-split-without-files":
        path = tc_catalog(repo, tmp, files, evals="[test, validation]")
        return path, ["datasets[0] (tiny).eval_splits", "'validation' has no files", "fix:"]
    if case == "yaml-python-tag":
        path = tc_catalog(repo, tmp, files)
        path.write_text(path.read_text() + "extra: !!python/object/apply:os.system [echo hi]\n")
        return path, ["catalog.yaml", "fix:"]
    raise AssertionError(case)


@pytest.mark.parametrize("case", ["unknown-encoding", "non-text-codec", "train-split-without-files",
                                  "eval-split-without-files", "yaml-python-tag"])
@pytest.mark.parametrize("command", ["validate", "build"])
def test_bad_catalog_fails_fast_with_a_named_message(repo, tmp_path, case, command):
    path, names = _catalog_case(repo, tmp_path, case)
    extra = ["--out", str(tmp_path / "out"), "--no-progress"] if command == "build" else []
    result = cli(command, "--catalog", str(path), *extra)
    assert_named_failure(result, str(path), *names)
    assert not (tmp_path / "out" / ".work").exists()  # nothing built


@pytest.mark.parametrize("command", ["validate", "build"])
def test_a_catalog_given_as_a_uri_is_refused_with_what_may_be_remote(tmp_path, command):
    extra = ["--out", str(tmp_path / "out"), "--no-progress"] if command == "build" else []
    result = cli(command, "--catalog", "s3://bucket/catalog.yaml", *extra)
    assert_named_failure(result, "s3://bucket/catalog.yaml", "must be a local file", "fix:", "files: and --out")
    assert not (tmp_path / "out").exists()


TEMPLATE_ERRORS = {
    "huge-string": ("{{ 'a' * 10**9 }} {{ text }}", ["repetition makes more than"]),
    "syntax-error": ("{{ text ", ["Jinja syntax error line 1"]),
    "unknown-field": ("{{ txet }}", ["uses ['txet']", "not fields of"]),
    "python-tag": ("!!python/object/apply:os.system [echo owned]", ["not a valid template file"]),
}


# a build finds a huge string only when it renders: a named reject per example (see RUNTIME_FAILURES)
@pytest.mark.parametrize(("case", "command"), [(c, m) for c in sorted(TEMPLATE_ERRORS) for m in ("lint", "build")
                                               if (c, m) != ("huge-string", "build")])
def test_bad_template_fails_fast_naming_file_template_and_problem(repo, tmp_path, case, command):
    source, names = TEMPLATE_ERRORS[case]
    templates = tmp_path / "templates"
    templates.mkdir()
    en = source if case == "python-tag" else f'"{source} {{{{ label_options | join(\', \') }}}}"'
    (templates / "tc.yaml").write_text(
        "task: tc\ntemplates:\n  - id: tc-broken\n    lists_labels: true\n"
        f"    en: {en}\n    zh: \"{{{{ text }}}} {{{{ label_options | join('，') }}}}\"\n", encoding="utf-8")
    write_rows(tmp_path / "train.jsonl", tc_rows(4))
    catalog = tc_catalog(repo, tmp_path, "{train: train.jsonl}", evals="[]", templates=templates)
    if command == "lint":
        result = cli("templates", "lint", "--catalog", str(catalog))
    else:
        result = cli("build", "--catalog", str(catalog), "--out", str(tmp_path / "out"), "--no-progress")
    shown = ["tc.yaml"] + (["tc-broken"] if case != "python-tag" else [])
    assert_named_failure(result, *shown, *names)
    assert not (tmp_path / "out" / ".work").exists()  # stopped before any work


TRAIN_CONFIGS = {
    "syntax-error": ("lr: [1e-5\nepochs: 2\n", ["line 2", "not valid YAML", "fix the YAML"]),
    "python-tag": ("lr: !!python/object/apply:os.system [echo owned]\n", ["line 1", "!!python/object", "fix"]),
    "not-utf8": (b"lr: 1e-5\n# \xff\xfe\n", ["not UTF-8", "byte 11", "save the config as UTF-8"]),
}


@pytest.mark.parametrize("case", sorted(TRAIN_CONFIGS))
def test_bad_training_config_names_file_line_and_fix(tmp_path, case):
    text, names = TRAIN_CONFIGS[case]
    config = tmp_path / "train.yaml"
    config.write_bytes(text if isinstance(text, bytes) else text.encode())
    result = cli("train", "--build", str(tmp_path), "--config", str(config), "--no-ray")
    assert result.exit_code == 1, (result.output, result.exception)
    flat = " ".join(result.output.split())
    assert "Traceback" not in result.output
    assert str(config) in result.output.replace("\n", "")  # the console may wrap a long path
    for name in names:
        assert name in flat, (name, flat)


# --- the same record id in two files of one split; curate eval on hostile prediction files -------------------

@pytest.fixture(scope="module")
def two_file_build(ray_local, repo, tmp_path_factory) -> Path:
    """A build whose test split has two files holding the same ids (1, 2) for different texts."""
    from curate.build import run_build

    tmp = tmp_path_factory.mktemp("twofiles")
    write_rows(tmp / "train.jsonl", tc_rows(6))
    write_rows(tmp / "test-a.jsonl", [{"id": "1", "text": "Fever after the first dose.", "label": "pos"},
                                      {"id": "2", "text": "No change in blood pressure.", "label": "neg"},
                                      {"id": "3", "text": "Rash on the second day.", "label": "pos"}])
    write_rows(tmp / "test-b.jsonl", [{"id": "1", "text": "Headache resolved without treatment.", "label": "neg"},
                                      {"id": "2", "text": "Nausea in most patients.", "label": "pos"}])
    catalog = tc_catalog(repo, tmp, "{train: train.jsonl, test: [test-a.jsonl, test-b.jsonl]}")
    return run_build(catalog, tmp / "out", workers=2, progress=False).out_dir


def _eval_records(out: Path) -> list[dict[str, Any]]:
    import pyarrow.parquet as pq

    manifest = json.loads((out / "eval/manifest.json").read_text())
    return [r for s in manifest["shards"] for r in pq.read_table(out / "eval" / s["path"]).to_pylist()]


def test_same_id_in_two_files_of_a_split_gives_distinct_records(two_file_build):
    records = _eval_records(two_file_build)
    assert len(records) == 5 and len({r["id"] for r in records}) == 5
    documents = sorted((r["provenance"]["source_file"], r["provenance"]["document_id"]) for r in records)
    # the first file keeps its ids; only the colliding ids of the second are qualified with its stem
    assert documents == [("test-a.jsonl", "1"), ("test-a.jsonl", "2"), ("test-a.jsonl", "3"),
                         ("test-b.jsonl", "test-b:1"), ("test-b.jsonl", "test-b:2")]
    from curate.evaluate import evaluate, gold_predictions

    predictions = two_file_build.parent / "gold.jsonl"
    write_rows(predictions, gold_predictions(two_file_build))
    report = evaluate(predictions, two_file_build)
    assert report.missing == 0 and sum(r["n"] for r in report.rows) == 5  # nothing dropped


def test_eval_on_non_utf8_and_deeply_nested_predictions_names_the_lines(two_file_build):
    from curate.evaluate import gold_predictions

    good = gold_predictions(two_file_build)
    predictions = two_file_build.parent / "hostile.jsonl"
    lines = [json.dumps(good[0]).encode(), b'{"id": "x", "prediction": "caf\xe9"}',
             b"[" * 200_000 + b"]" * 200_000, *(json.dumps(g).encode() for g in good[1:])]
    predictions.write_bytes(b"\n".join(lines) + b"\n")
    result = cli("eval", "--predictions", str(predictions), "--build", str(two_file_build), "--json")
    assert result.exit_code == 0, (result.output, result.exception)
    report = json.loads(result.output)
    assert report["unreadable_lines"] == [2, 3]
    assert report["missing"] == 0


# --- every reader family against hostile bytes --------------------------------------------------------------

READERS = Path(__file__).parent / "data" / "readers"
TC_TSV = {"kind": "tc", "file_format": "tsv", "quoting": False, "columns": ["sentence", "label"],
          "fields": {"text": "sentence", "labels": "label"}}
QQR = {"kind": "tp", "id_field": "id", "fields": {"text_1": "query1", "text_2": "query2", "label": "label"}}
# family -> (reader, options, a good tiny file of ours that the mutations start from)
FAMILIES: dict[str, tuple[str, dict[str, Any], str]] = {
    "pubtator": ("pubtator", {}, "pubtator/good.txt"),
    "bioc": ("bioc", {}, "bioc/collection.xml"),
    "biocreative_tsv": ("biocreative_tsv", {"relation_columns": ["pmid", "group", "evaluated", "subtype", "arg1",
                                                                 "arg2"], "relation_type_column": "group"},
                        "biocreative_tsv/tiny_abstracts.tsv"),
    "conll": ("conll", {"separator": None}, "conll/docs.iob2"),
    "standoff": ("standoff", {}, "standoff/brat/doc1.txt"),
    "ddi_xml": ("ddi_xml", {}, "ddi/good.xml"),
    "hoc": ("hoc", {}, "hoc/text/1.txt"),
    "cmeee": ("cmeee", {"end_inclusive": True}, "cblue/cmeee_v1.json"),
    "cmeie": ("cmeie", {}, "cblue/cmeie.jsonl"),
    "imcs": ("imcs", {}, "cblue/imcs.json"),
    "tabular-tsv": ("tabular", TC_TSV, "tabular/no_header.tsv"),
    "tabular-json": ("tabular", QQR, "tabular/pairs.json"),
    "pubmedqa": ("pubmedqa", {}, "qa/pubmedqa.json"),
    "bioasq": ("bioasq", {}, "qa/bioasq.json"),
    "mediqa_xml": ("mediqa_xml", {}, "qa/rqe.xml"),
}


def mutate(data: bytes, how: str) -> bytes:
    """Hostile versions of a good file: a byte that is not UTF-8 mid-file, the first half only, noise,
    nothing at all, and JSON/markup nested 100,000 deep in front of it."""
    if how == "not-utf8":
        cut = data.index(b"\n", len(data) // 2) if b"\n" in data[len(data) // 2:] else len(data) // 2
        return data[:cut] + b" \xff\xfe" + data[cut:]
    if how == "truncated":
        return data[: len(data) // 2]
    if how == "noise":
        import random

        return bytes(random.Random(5).randrange(256) for _ in range(600))
    if how == "empty":
        return b""
    if how == "deep":
        opener = b"<a>" if data.lstrip().startswith(b"<") else b"["
        return opener * 100_000 + data
    raise AssertionError(how)


def _matrix() -> list[Any]:
    cases = []
    for family in sorted(FAMILIES):
        for how in ("not-utf8", "truncated", "noise", "empty", "deep"):
            cases.append(pytest.param(family, how, id=f"{family}-{how}"))
    return cases


@pytest.mark.timeout(60)
@pytest.mark.parametrize(("family", "how"), _matrix())
def test_reader_family_turns_hostile_bytes_into_named_rejects(tmp_path, family, how):
    """No exception and no silent loss: every reject names the file, where (line or record id, or the whole
    file), the field and the reason; a damaged file gives at least one reject or no damage is visible."""
    import shutil

    from curate.readers import ReadContext, get_reader

    reader, options, good = FAMILIES[family]
    source = READERS / good
    top = good.split("/", 1)[0]
    shutil.copytree(READERS / top, tmp_path / top)  # companions (.ann, labels/) travel with the file
    path = tmp_path / good
    path.write_bytes(mutate(source.read_bytes(), how))
    ctx = ReadContext("tiny", "train", str(path))
    docs = list(get_reader(reader, options).read(str(path), ctx))
    for reject in ctx.rejects:
        # the file itself, or its companion annotation file (a BRAT .ann names its own lines)
        assert reject.file == str(path) or Path(reject.file).with_suffix("") == path.with_suffix(""), reject
        assert reject.field and reject.reason, reject
        assert reject.line is not None or reject.record_id or reject.field.startswith("("), reject
    if how in ("not-utf8", "noise", "empty"):
        assert ctx.rejects, f"{family}/{how}: {len(docs)} documents and no reject"
    if how == "not-utf8":  # the reject says where: the encoding and byte, or the line of the bad byte
        assert any("utf-8" in r.reason.lower() or "encoding" in r.reason.lower() or "line" in r.reason
                   or r.line is not None for r in ctx.rejects), ctx.rejects


# --- single cases in the reader modules --------------------------------------------------------------------

def _read(reader: str, path: Path, options: dict[str, Any]) -> tuple[list[Any], Any]:
    from curate.readers import ReadContext, get_reader

    ctx = ReadContext("tiny", "train", str(path))
    return list(get_reader(reader, options).read(str(path), ctx)), ctx


def test_unterminated_csv_quote_swallows_no_row(tmp_path):
    path = tmp_path / "rows.csv"
    path.write_text('id,text,label\n1,"never closed,pos\n2,second row,neg\n3,third row,pos\n', encoding="utf-8")
    docs, ctx = _read("tabular", path, {"kind": "tc", "id_field": "id", "fields": {"text": "text", "labels": "label"}})
    assert [d.id for d in docs] == ["2", "3"]  # the rows after the bad quote survive
    (reject,) = ctx.rejects
    assert reject.line == 2 and reject.field and "quote" in reject.reason


def test_malformed_choices_cell_is_a_named_reject(tmp_path):
    path = tmp_path / "mc.jsonl"
    write_rows(path, [{"id": "q1", "question": "Which?", "choices": "[\"a\", \"b\"", "answer": "a"},
                      {"id": "q2", "question": "Which?", "choices": "[\"a\", \"b\"]", "answer": "b"}])
    docs, ctx = _read("tabular", path, {"kind": "qa", "id_field": "id", "qa_type": "multiple_choice",
                                        "fields": {"question": "question", "answer": "answer",
                                                   "choices": "choices"}})
    assert [d.id for d in docs] == ["q2"]
    (reject,) = ctx.rejects
    assert reject.record_id == "q1" and reject.field == "choices"


def test_pubtator_offset_that_is_not_an_ascii_integer_is_a_named_reject(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_text("1|t|Aspirin and fever.\n1|a|Fever went down.\n1\t0\t7\tAspirin\tChemical\tD1\n"
                    "1\t1²\t17\tfever\tDisease\tD2\n\n", encoding="utf-8")
    docs, ctx = _read("pubtator", path, {})
    assert len(docs) == 1 and len(docs[0].entities) == 1
    assert any(r.line == 4 and "offset" in (r.field + r.reason).lower() for r in ctx.rejects), ctx.rejects


@pytest.mark.ray
def test_bad_records_in_a_build_are_named_rejects_and_counts_reconcile(ray_local, repo, tmp_path):
    """Five source lines, three bad ones: every line is a document or a reject naming its line and field."""
    from curate.build import run_build

    lines = [json.dumps({"id": "g1", "text": "Aspirin eased the fever.", "label": "pos"}),
             '{"id": "broken", "text": "no closing brace"',
             json.dumps({"id": "nolabel", "text": "A sentence without its label."}),
             json.dumps({"id": "odd", "text": "A sentence with a label nobody listed.", "label": "maybe"}),
             json.dumps({"id": "g2", "text": "Ibuprofen did nothing.", "label": "neg"})]
    (tmp_path / "train.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    catalog = tc_catalog(repo, tmp_path, "{train: train.jsonl}", evals="[]")
    result = run_build(catalog, tmp_path / "out", workers=1, progress=False)
    counts = result.manifest["sources"]["tiny"]["train"]
    assert (counts["read"], counts["documents"], counts["rejected"]) == (5, 2, 3)
    rejects = [json.loads(x) for x in (result.out_dir / "rejects/tiny.jsonl").read_text().splitlines()]
    assert [r["line"] for r in rejects] == [2, 3, 4]
    assert all(r["file"] == "train.jsonl" and r["field"] and r["reason"] for r in rejects)


@pytest.mark.ray
def test_same_id_in_three_files_with_one_stem_gives_distinct_records(ray_local, repo, tmp_path):
    """Shards named alike in three folders, each numbering its records from 1."""
    from curate.build import run_build

    for n, folder in enumerate(("a", "b", "c")):
        write_rows(tmp_path / folder / "test.jsonl", [{"id": "1", "text": f"Folder {folder} text {n}.",
                                                       "label": "pos"}])
    write_rows(tmp_path / "train.jsonl", tc_rows(4))
    catalog = tc_catalog(repo, tmp_path, "{train: train.jsonl, test: [a/test.jsonl, b/test.jsonl, c/test.jsonl]}")
    out = run_build(catalog, tmp_path / "out", workers=2, progress=False).out_dir
    records = _eval_records(out)
    assert sorted(r["provenance"]["document_id"] for r in records) == ["1", "test.1:1", "test.2:1"]
    assert len({r["id"] for r in records}) == 3
