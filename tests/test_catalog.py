"""A bad catalog fails before any work, with the file, the key and the fix in the message."""

import json
import textwrap

import pytest
from typer.testing import CliRunner

from curate.catalog import load_catalog
from curate.cli import app
from curate.errors import CatalogError

GOOD_ENTRY = """
  - name: tiny
    language: en
    tasks: [ner]
    format: pubtator
    files: {train: tiny.txt}
"""


def write(tmp_path, body, files=("tiny.txt",)):
    for name in files:
        (tmp_path / name).write_text("1|t|Aspirin.\n1\t0\t7\tAspirin\tChemical\tD1\n", encoding="utf-8")
    path = tmp_path / "catalog.yaml"
    path.write_text(textwrap.dedent(body), encoding="utf-8")
    return path


def test_demo_catalog_loads(repo):
    catalog = load_catalog(repo / "catalog.yaml")
    assert {d.language for d in catalog.datasets if "demo" in d.tags} == {"en", "zh"}
    assert [s.name for s in catalog.stages][:2] == ["stage1", "stage2"]


@pytest.mark.parametrize(
    ("body", "key", "words"),
    [
        ("datasets:" + GOOD_ENTRY.replace("format: pubtator", "format: pubtater"), "datasets[0] (tiny).format",
         "unknown reader 'pubtater'"),
        ("datasets:" + GOOD_ENTRY.replace("tiny.txt", "missing.txt"), "datasets[0] (tiny).files.train",
         "file not found"),
        ("datasets:" + GOOD_ENTRY.replace("language: en", "language: fr"), "datasets[0] (tiny).language",
         "'en' or 'zh'"),
        ("datasets:" + GOOD_ENTRY + "    colour: blue\n", "datasets[0] (tiny).colour", "Extra inputs"),
        ("datasets:" + GOOD_ENTRY.replace("format: pubtator", "format: pubtator\n    options: {db_nam: X}"),
         "datasets[0] (tiny).options", "db_nam"),
        ("stages:\n  - name: s1\n    datasets: [nope]\ndatasets:" + GOOD_ENTRY, "stages[0] (s1).datasets",
         "unknown dataset 'nope'"),
        ("datasets:" + GOOD_ENTRY + GOOD_ENTRY, "(top level)", "used twice"),
        ("datasets: [\n", "line", "not valid YAML"),
    ],
)
def test_errors_name_file_key_and_fix(tmp_path, body, key, words):
    path = write(tmp_path, body)
    with pytest.raises(CatalogError) as info:
        load_catalog(path)
    message = str(info.value)
    assert str(path) in message
    assert key in message
    assert words in message
    if "YAML" not in words:
        assert "fix:" in message


def test_entry_without_files_is_listed_but_not_available(tmp_path):
    path = write(tmp_path, "datasets:" + GOOD_ENTRY + "  - name: listed_only\n    language: zh\n    tasks: [tc]\n"
                 "    tags: [taiyi]\n")
    catalog = load_catalog(path)
    assert catalog.available(catalog.dataset("tiny"))
    assert not catalog.available(catalog.dataset("listed_only"))


def test_optional_entry_with_missing_files_loads(tmp_path):
    path = write(tmp_path, "datasets:" + GOOD_ENTRY.replace("tiny.txt", "absent.txt") + "    optional: true\n")
    catalog = load_catalog(path)
    assert not catalog.available(catalog.dataset("tiny"))


def test_catalog_list_json_filters_by_tag(repo):
    result = CliRunner().invoke(app, ["catalog", "list", "--catalog", str(repo / "catalog.yaml"), "--tag", "demo",
                                      "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert rows and all("demo" in r["tags"] for r in rows)
    assert {"name", "language", "tasks", "format", "license", "tags", "available"} <= set(rows[0])


def test_cli_reports_catalog_error_without_traceback(tmp_path):
    path = write(tmp_path, "datasets:" + GOOD_ENTRY.replace("format: pubtator", "format: nope"))
    result = CliRunner().invoke(app, ["validate", "--catalog", str(path)])
    assert result.exit_code == 1
    assert "unknown reader 'nope'" in result.output
    assert "Traceback" not in result.output
