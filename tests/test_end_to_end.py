"""The whole flow on the demo catalog: build, two-stage training of a tiny model, generation, evaluation."""

import json
import os

import pytest
from typer.testing import CliRunner

from curate.cli import app

pytestmark = [pytest.mark.ray, pytest.mark.slow, pytest.mark.timeout(600)]


def test_build_train_generate_eval(repo, tmp_path, monkeypatch):
    monkeypatch.setenv("DS_ACCELERATOR", "cpu")
    monkeypatch.setenv("TORCH_EXTENSIONS_DIR", os.environ.get("TORCH_EXTENSIONS_DIR", str(tmp_path / "ext")))
    runner = CliRunner()
    out, run = tmp_path / "out", tmp_path / "run"
    result = runner.invoke(app, ["build", "--catalog", str(repo / "catalog.yaml"), "--out", str(out), "--no-progress"])
    assert result.exit_code == 0, result.output
    config = repo / "ray_jobs/train_config.tiny.yaml"
    result = runner.invoke(app, ["train", "--build", str(out), "--config", str(config), "--output", str(run),
                                 "--set", "stages.0.epochs=1", "--set", "max_seq_len=256"])
    assert result.exit_code == 0, result.output
    for stage in ("stage1", "stage2"):
        assert (run / stage / "COMPLETE").exists()
        assert (run / stage / "hf" / "config.json").exists()
    preds = tmp_path / "preds.jsonl"
    result = runner.invoke(app, ["generate", "--model", str(run / "stage2" / "hf"), "--build", str(out),
                                 "--split", "test", "--out", str(preds)])
    assert result.exit_code == 0, result.output
    eval_manifest = json.loads((out / "eval" / "manifest.json").read_text())
    test_rows = sum(s["rows"] for s in eval_manifest["shards"] if s["split"] == "test")
    lines = [json.loads(line) for line in preds.read_text().splitlines()]
    assert len(lines) == test_rows and all(set(line) == {"id", "prediction"} for line in lines)
    result = runner.invoke(app, ["eval", "--predictions", str(preds), "--build", str(out), "--split", "test",
                                 "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output[result.output.index("{"):])
    assert report["predictions"] == test_rows and report["missing"] == 0 and not report["unknown_ids"]
    scored = {row["dataset"] for row in report["datasets"]}
    test_sets = {s["path"] for s in eval_manifest["shards"] if s["split"] == "test"}
    assert test_sets and sum(row["n"] for row in report["datasets"]) == test_rows
    assert {"demo_cdr_en", "demo_medqa_zh", "demo_topics_en"} <= scored
