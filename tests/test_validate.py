"""`curate validate --json` says what happened to every record without a build: where records went, the
top reasons with an example line, and why a split or a task yields no examples (tiny catalogs of our own)."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import REPO
from typer.testing import CliRunner

from curate.catalog import load_catalog
from curate.cli import app
from curate.validate import reason_pattern, validate_catalog


def _catalog(tmp_path: Path) -> Path:
    (tmp_path / "doc1.txt").write_text("Nothing to see here.\n", encoding="utf-8")
    (tmp_path / "doc1.ann").write_text("", encoding="utf-8")  # a document without mentions
    (tmp_path / "doc2.txt").write_text("Aspirin helps.\n", encoding="utf-8")
    (tmp_path / "doc2.ann").write_text("", encoding="utf-8")
    (tmp_path / "bad.txt").write_text("1\t0\t3\tabc\tDisease\tD1\n\n2\t0\t3\tdef\tDisease\tD2\n\n"
                                      "3|t|Fine title\n3\t0\t4\tFinn\tDisease\tD3\n", encoding="utf-8")
    (tmp_path / "side.en").write_text("one\ntwo\n", encoding="utf-8")
    (tmp_path / "side.zh").write_text("一\n二\n", encoding="utf-8")
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text(f"""version: 1
templates: {REPO}/instruction_templates
datasets:
- name: no_entities
  language: en
  tasks: [ner]
  format: standoff
  files: {{train: "doc*.txt"}}
- name: all_rejected
  language: en
  tasks: [ner]
  format: pubtator
  files: {{train: bad.txt}}
- name: wrong_kind
  language: en
  tasks: [ner, mt]
  format: parallel_text
  files: {{train: side.en}}
""", encoding="utf-8")
    return catalog


def test_rows_explain_where_records_went_and_why_no_examples(tmp_path: Path) -> None:
    rows, notices = validate_catalog(load_catalog(_catalog(tmp_path)))
    assert notices == []
    by_name = {row["dataset"]: row for row in rows}

    empty = by_name["no_entities"]
    assert (empty["documents"], empty["examples"], empty["records_read"]) == (2, 0, 2)
    assert empty["examples_per_task"] == {"ner": 0}
    assert empty["no_examples"]["ner"].startswith("all 2 documents have no entities")
    assert empty["no_examples_reason"] == "ner: " + empty["no_examples"]["ner"]

    bad = by_name["all_rejected"]
    assert (bad["documents"], bad["rejected"], bad["records_read"]) == (1, 2, 3)
    assert bad["rejects_by_action"] == {"dropped": 1, "rejected": 2}
    top = bad["reject_reasons"][0]
    assert (top["action"], top["count"]) == ("rejected", 2)
    assert top["example"]["line"] == 1 and top["example"]["file"] == "bad.txt"
    assert "neither a title" in top["example"]["reason"]

    kind = by_name["wrong_kind"]
    assert kind["examples_per_task"]["mt"] == 4 and kind["no_examples_reason"] is None
    assert kind["no_examples"] == {"ner": "`ner` makes examples from ie documents; the reader gave 2 mt"}


def test_reasons_group_without_their_particulars() -> None:
    assert reason_pattern("mention 'abc' differs from the text at its offsets 'abd'") == \
        reason_pattern("mention 'x' differs from the text at its offsets 'y'")
    assert reason_pattern("span [3, 9) is outside the text (length 5)") == "span [N, N) is outside the text (length N)"


def test_cli_json_and_table(tmp_path: Path) -> None:
    catalog = _catalog(tmp_path)
    result = CliRunner().invoke(app, ["validate", "--catalog", str(catalog), "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert {r["dataset"] for r in rows} == {"no_entities", "all_rejected", "wrong_kind"}
    for row in rows:  # the keys validate had before stay
        assert {"dataset", "split", "documents", "entities", "relations", "events", "examples", "rejected",
                "files"} <= set(row)
    table = CliRunner().invoke(app, ["validate", "--catalog", str(catalog)])
    assert table.exit_code == 0
    assert "no_entities/train: no ner examples: all 2 documents have no entities" in table.output
    assert "all_rejected/train: 2 rejected" in table.output
