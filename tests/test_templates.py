"""Templates: the shipped library lints clean and covers every task family with >= 10 variants per
language, and lint rejects each kind of broken template naming the file, the template id and the reason.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from roundtrip_util import ROOT
from typer.testing import CliRunner

from curate.cli import app
from curate.errors import TemplateError
from curate.templates import lint, load_templates

TEMPLATES = ROOT / "instruction_templates"
FAMILIES = ("ner", "nen", "re", "ee", "tc", "tp", "qa", "dialogue", "mt", "t2t")


def test_shipped_templates_lint_clean() -> None:
    rows = lint(TEMPLATES)
    assert len({r["id"] for r in rows}) == len(rows)


def test_list_json_has_ten_variants_per_task_and_language() -> None:
    result = CliRunner().invoke(app, ["templates", "list", "--json", "--dir", str(TEMPLATES)])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert {"task", "language", "id"} <= set(rows[0])
    counts = Counter((r["task"], r["language"]) for r in rows)
    for task in FAMILIES:
        for lang in ("en", "zh"):
            assert counts[(task, lang)] >= 10, (task, lang, counts[(task, lang)])


def test_variety_positions_quoting_and_single_type_asks() -> None:
    rows = lint(TEMPLATES)
    for task in ("ner", "re", "tc", "tp", "qa", "mt"):
        mine = [r for r in rows if r["task"] == task]
        assert {r["position"] for r in mine} == {"before", "after", "around"}, task
        assert any(r["quoted"] for r in mine) and not all(r["quoted"] for r in mine), task
    assert any("single_type" in r["subtasks"] for r in rows if r["task"] == "ner")
    assert any(not r["lists_labels"] for r in rows if r["task"] == "tc")


def _write(tmp_path: Path, body: str) -> Path:
    directory = tmp_path / "templates"
    directory.mkdir()
    (directory / "ner.yaml").write_text(body, encoding="utf-8")
    return directory


GOOD = """  - id: ok-1
    en: "Find {{ entity_types | join(', ') }} in {{ text }}"
    zh: "找出{{ text }}中的{{ entity_types | join('，') }}"
"""
SUBTASKS = """  - id: ok-single
    subtasks: [single_type]
    en: "Text: {{ text }}"
    zh: "文本：{{ text }}"
"""
T = "en: 'T {{ text }}'\n    zh: 'T {{ text }}'\n"


@pytest.mark.parametrize(("body", "template_id", "reason"), [
    ("  - id: bad-field\n    en: '{{ txt }}'\n    zh: '{{ text }}'\n", "bad-field", "uses ['txt']"),
    ("  - id: no-zh\n    en: '{{ text }}'\n", "no-zh", "zh: Field required"),
    ("  - id: bad-syntax\n    en: '{{ text '\n    zh: '{{ text }}'\n", "bad-syntax", "syntax error"),
    ("  - id: ok-1\n    " + T, "ok-1", "id already used"),
    ("  - id: sandbox\n    en: '{{ text.__class__.__mro__ }}'\n    zh: 'T'\n", "sandbox", "does not render"),
    ("  - id: empty\n    en: '{% if false %}x{% endif %}'\n    zh: 'T'\n", "empty", "empty prompt"),
    ("  - id: bad-format\n    answer_format: nope\n    " + T, "bad-format", "unknown answer_format"),
    ("  - id: bad-subtask\n    subtasks: [triples]\n    " + T, "bad-subtask", "unknown subtasks"),
])
def test_lint_names_file_id_and_reason(tmp_path: Path, body: str, template_id: str, reason: str) -> None:
    directory = _write(tmp_path, "task: ner\ntemplates:\n" + GOOD + SUBTASKS + body)
    with pytest.raises(TemplateError) as info:
        lint(directory)
    message = str(info.value)
    assert "ner.yaml" in message and template_id in message and reason in message, message


def test_lint_reports_a_subtask_without_templates(tmp_path: Path) -> None:
    directory = _write(tmp_path, "task: ner\ntemplates:\n" + SUBTASKS)
    with pytest.raises(TemplateError, match="no template for task ner subtask all_types"):
        lint(directory)


def test_lint_command_fails_with_exit_code_and_message(tmp_path: Path) -> None:
    directory = _write(tmp_path, "task: ner\ntemplates:\n  - id: x\n    en: '{{ nope }}'\n    zh: 'T'\n")
    result = CliRunner().invoke(app, ["templates", "lint", "--dir", str(directory)])
    assert result.exit_code == 1 and "nope" in result.output


def test_labels_listed_in_the_prompt_language_both_ways() -> None:
    from roundtrip_util import dataset_examples

    from curate.build.record import render_example
    from curate.catalog import load_catalog

    catalog = load_catalog(ROOT / "catalog.yaml")
    library = load_templates(TEMPLATES)
    example = next(e for e in dataset_examples(catalog, catalog.dataset("demo_cdr_en")) if e.task == "ner"
                   and e.subtask == "all_types")
    english, _ = render_example(example, 0, catalog, library, seed=0, cross_lingual_ratio=0.0)
    chinese, _ = render_example(example, 0, catalog, library, seed=0, cross_lingual_ratio=1.0)
    assert english is not None and chinese is not None
    assert english["prompt_lang"] == "en" and chinese["prompt_lang"] == "zh"
    assert "chemical" in english["messages"][0]["content"]
    assert "化学物质" in chinese["messages"][0]["content"] and "化学物质" in chinese["messages"][1]["content"]
