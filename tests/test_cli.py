"""The command line: instant help (no heavy imports), templates lint, and the conventions users expect:
--version, completion, usage errors (exit 2) apart from data errors (exit 1), results on stdout and the rest
on stderr, NO_COLOR, tables that are not cut when piped."""

import os
import subprocess
import sys
from pathlib import Path

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
    assert result.exit_code == 1
    assert "ner.yaml" in result.output and "bad-1" in result.output and "entity_kinds" in result.output


def run_cli(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """`python -m curate ...` with stdout and stderr piped apart, as a shell pipeline sees them."""
    return subprocess.run([sys.executable, "-m", "curate", *args], capture_output=True, text=True, timeout=300,
                          env={**os.environ, **(env or {})}, cwd=cwd)


def test_version_and_completion():
    from curate import __version__

    assert run_cli("--version").stdout.strip() == f"curate {__version__}"
    completion = run_cli("--show-completion", "bash")
    assert completion.returncode == 0 and "complete" in completion.stdout
    assert "--install-completion" in run_cli("--help").stdout


def test_completion_offers_the_catalogs_stage_and_dataset_names(repo):
    def complete(words: str) -> list[str]:
        env = {"_CURATE_COMPLETE": "complete_bash", "COMP_WORDS": words, "COMP_CWORD": str(len(words.split()) - 1)}
        return CliRunner().invoke(app, [], prog_name="curate", env=env).output.split()

    catalog = str(repo / "catalog.yaml")
    assert complete(f"curate build --catalog {catalog} --stage st") == ["stage1", "stage2"]
    assert set(complete(f"curate validate --catalog {catalog} --dataset demo_c")) == {
        "demo_cdr_en", "demo_cmeee_zh", "demo_cdee_zh", "demo_consult_zh"}


def test_unknown_names_are_usage_errors_that_list_the_valid_ones(repo, tmp_path):
    catalog = str(repo / "catalog.yaml")
    stage = run_cli("build", "--catalog", catalog, "--stage", "nope", "--out", str(tmp_path / "o"))
    assert stage.returncode == 2 and "unknown stage 'nope'" in stage.stderr and "stage1, stage2" in stage.stderr
    assert not (tmp_path / "o").exists()  # nothing built
    dataset = run_cli("validate", "--catalog", catalog, "--dataset", "nope")
    assert dataset.returncode == 2 and "unknown dataset 'nope'" in dataset.stderr and "demo_cdr_en" in dataset.stderr
    assert dataset.stdout == ""
    preview = run_cli("templates", "preview", "--catalog", catalog, "--dataset", "nope")
    assert preview.returncode == 2 and "demo_cdr_en" in preview.stderr
    fmt = run_cli("export", "--format", "nope")
    assert fmt.returncode == 2 and "llamafactory-alpaca" in fmt.stderr
    assert "firefly|llamafactory" in " ".join(run_cli("export", "--help").stdout.split()).replace("│ ", "")


def test_data_errors_exit_1_with_one_line_and_no_traceback(repo, tmp_path):
    unwritable = run_cli("build", "--catalog", str(repo / "catalog.yaml"), "--out", "/proc/curate-nope/out")
    assert unwritable.returncode == 1 and "Traceback" not in unwritable.stderr
    assert unwritable.stderr.startswith("error: --out /proc/curate-nope/out: cannot write there")
    missing = run_cli("export", "--build", str(tmp_path / "nope"), "--out", str(tmp_path / "export"))
    assert missing.returncode == 1 and "not found" in missing.stderr and missing.stdout == ""
    assert not (tmp_path / "export").exists()  # nothing written for a build that is not there


def test_no_color_is_honoured(tmp_path):
    (tmp_path / "ner.yaml").write_text("task: ner\ntemplates:\n  - id: x\n    en: '{{ nope }}'\n    zh: 'T'\n",
                                       encoding="utf-8")
    args = ["templates", "lint", "--dir", str(tmp_path)]
    coloured = CliRunner().invoke(app, args, color=True)
    assert "\x1b[" in coloured.output  # a terminal gets a red error
    plain = CliRunner().invoke(app, args, color=True, env={"NO_COLOR": "1"})
    assert plain.exit_code == 1 and "\x1b[" not in plain.output and "error:" in plain.output


def test_piped_tables_are_not_cut(repo):
    listed = run_cli("catalog", "list", "--catalog", str(repo / "catalogs" / "taiyi.yaml"), env={"COLUMNS": "80"})
    assert listed.returncode == 0, listed.stderr
    long_license = "Public domain notice (NCBI United States Government Work); PubMed abstracts under NLM terms"
    assert any(long_license in line for line in listed.stdout.splitlines())
    assert "…" not in listed.stdout and "\x1b[" not in listed.stdout


def test_build_prints_results_on_stdout_and_progress_on_stderr(repo, tmp_path):
    out = tmp_path / "out"
    built = run_cli("build", "--catalog", str(repo / "catalog.yaml"), "--out", str(out), env={
        "CURATE_PROGRESS_INTERVAL": "0"})
    assert built.returncode == 0, built.stderr[-3000:]
    assert "resolved mixture" in built.stdout and f"to {out}" in built.stdout
    assert "[curate" not in built.stdout and "phase 1" not in built.stdout
    progress = [line for line in built.stderr.splitlines() if line.startswith("[curate")]
    assert any("phase 1: read and extract" in line for line in progress)
    assert any(line.endswith("(100%) done") for line in progress)  # the last phase, write shards
    assert not (out / ".work").exists() and (out / "manifest.json").exists()
    # stage 1 takes no QA by design: its QA rows are `excluded`, not `sampled_out`
    header = next(line for line in built.stdout.splitlines() if "dataset/task" in line)
    columns = [c.strip() for c in header.split("┃")[1:-1]]
    qa = next(line for line in built.stdout.splitlines() if "stage1" in line and "demo_medqa_en/qa" in line)
    cells = dict(zip(columns, [c.strip() for c in qa.split("│")[1:-1]], strict=True))
    assert (cells["written"], cells["sampled_out"]) == ("0", "0") and int(cells["excluded"]) > 0


def test_a_job_submission_ray_address_gets_a_clear_message(repo, tmp_path):
    built = run_cli("build", "--catalog", str(repo / "catalog.yaml"), "--out", str(tmp_path / "o"),
                    env={"RAY_ADDRESS": "http://nonexistent.invalid:8265"})
    assert built.returncode == 1 and "Traceback" not in built.stderr
    assert "RAY_ADDRESS=http://nonexistent.invalid:8265 is a job-submission (dashboard) address" in built.stderr
    assert "ray job submit --address http://nonexistent.invalid:8265" in built.stderr
