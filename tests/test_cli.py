"""The command line: instant help (no heavy imports), templates lint, build summary."""

import subprocess
import sys

from typer.testing import CliRunner

from curate.cli import app


def test_help_imports_no_heavy_library():
    code = ("import sys; from curate.cli import app; "
            "heavy = [m for m in ('ray', 'torch', 'pyarrow', 'transformers', 'datasets', 'deepspeed', 'opencc') "
            "if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
    help_text = subprocess.run([sys.executable, "-m", "curate", "--help"], capture_output=True, text=True,
                               check=True).stdout
    for command in ("build", "validate", "catalog", "templates"):
        assert command in help_text


def test_templates_lint_passes_on_the_shipped_templates(repo):
    result = CliRunner().invoke(app, ["templates", "lint", "--catalog", str(repo / "catalog.yaml")])
    assert result.exit_code == 0, result.output
    assert "templates OK" in result.output


def test_templates_lint_names_file_id_and_reason(tmp_path):
    (tmp_path / "ner.yaml").write_text(
        "task: ner\ntemplates:\n  - id: bad-1\n    en: 'Find {{ entity_kinds }} in {{ text }}'\n"
        "    zh: '找出{{ text }}'\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["templates", "lint", "--dir", str(tmp_path)])
    assert result.exit_code == 2
    assert "ner.yaml" in result.output and "bad-1" in result.output and "entity_kinds" in result.output
