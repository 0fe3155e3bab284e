"""A fresh demo build's outputs, loaded by the clients users run: LLaMA-Factory's own dataset loader and
converters, Firefly's way of reading its JSONL, TRL's SFTTrainer, and ``datasets.load_dataset(<build>)``.
Each test skips, with the reason, only when its package cannot be imported."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import json
import subprocess
import sys
import types
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from curate.export import export_build, stage_records, taiyi_category
from curate.hub_metadata import card_problems, hub_license, size_category

pytestmark = [pytest.mark.ray, pytest.mark.timeout(300)]


def llamafactory_loader(monkeypatch: pytest.MonkeyPatch) -> Any:
    """LLaMA-Factory's ``_get_merged_dataset`` and its argument classes.

    llamafactory 0.9.5 pins older transformers/datasets; installed with ``--no-deps`` it runs with ours once
    its version gate is off. Its multimodal plugin imports torchaudio at module level, which has no wheel
    for our torch: when torchaudio is missing, an empty module stands in (the text loader never calls it)."""
    if importlib.util.find_spec("llamafactory") is None:
        pytest.skip("llamafactory is not installed (pip install --no-deps llamafactory==0.9.5 omegaconf)")
    monkeypatch.setenv("DISABLE_VERSION_CHECK", "1")
    if "torchaudio" not in sys.modules and importlib.util.find_spec("torchaudio") is None:
        stand_in = types.ModuleType("torchaudio")
        stand_in.__spec__ = importlib.machinery.ModuleSpec("torchaudio", None)
        monkeypatch.setitem(sys.modules, "torchaudio", stand_in)  # gone again after the test
    try:
        from llamafactory.data.loader import _get_merged_dataset
        from llamafactory.hparams import DataArguments, ModelArguments
    except ImportError as exc:
        pytest.skip(f"llamafactory cannot be imported here: {exc}")
    from transformers import Seq2SeqTrainingArguments

    def load(dataset_dir: Path, name: str, cache: Path) -> Any:
        data_args = DataArguments(dataset=name, dataset_dir=str(dataset_dir))
        model_args = ModelArguments(model_name_or_path="unused-by-the-loader", cache_dir=str(cache))
        training_args = Seq2SeqTrainingArguments(output_dir=str(cache / "trainer"))
        return _get_merged_dataset(data_args.dataset, model_args, data_args, training_args, stage="sft")

    return load


@pytest.mark.parametrize("fmt", ["llamafactory", "llamafactory-alpaca"])
def test_llamafactory_loads_the_export(demo_build, tmp_path, monkeypatch, fmt):
    load = llamafactory_loader(monkeypatch)
    summary = export_build(demo_build.out_dir, "stage2", fmt, tmp_path / "export")
    info = json.loads((tmp_path / "export" / "dataset_info.json").read_text())
    assert "system" not in info[summary["name"]]["columns"]  # no record has a system turn
    dataset = load(tmp_path / "export", summary["name"], tmp_path / "cache")
    records = list(stage_records(demo_build.out_dir, "stage2"))
    assert len(dataset) == len(records) == summary["rows"]
    first = dataset[0]
    user = [m["content"] for m in records[0]["messages"] if m["role"] == "user"]
    assistant = [m["content"] for m in records[0]["messages"] if m["role"] == "assistant"]
    assert first["_prompt"][-1] == {"role": "user", "content": user[-1]}
    assert first["_response"] == [{"role": "assistant", "content": assistant[-1]}]
    multi_turn = next(i for i, r in enumerate(records) if r["task"] == "dialogue")
    assert len(dataset[multi_turn]["_prompt"]) == 2 * len(user_turns(records[multi_turn])) - 1


def user_turns(record: dict[str, Any]) -> list[str]:
    return [m["content"] for m in record["messages"] if m["role"] == "user"]


def with_system_turns(build: Path, out: Path) -> Path:
    """A copy of the build's stage2 where every other record starts with a system turn."""
    (out / "stage2").mkdir(parents=True)
    manifest = json.loads((build / "stage2" / "manifest.json").read_text())
    for shard in manifest["shards"]:
        table = pq.read_table(build / "stage2" / shard["path"])
        rows = table.to_pylist()
        for i, row in enumerate(rows):
            if i % 2 == 0:
                row["messages"] = [{"role": "system", "content": f"You are assistant {i}."}, *row["messages"]]
        pq.write_table(pa.Table.from_pylist(rows, schema=table.schema), out / "stage2" / shard["path"])
    (out / "stage2" / "manifest.json").write_text(json.dumps(manifest))
    return out


def test_llamafactory_maps_system_turns_when_records_have_them(demo_build, tmp_path, monkeypatch):
    load = llamafactory_loader(monkeypatch)
    build = with_system_turns(demo_build.out_dir, tmp_path / "build")
    summary = export_build(build, "stage2", "llamafactory", tmp_path / "export")
    info = json.loads((tmp_path / "export" / "dataset_info.json").read_text())
    assert info[summary["name"]]["columns"]["system"] == "system"
    dataset = load(tmp_path / "export", summary["name"], tmp_path / "cache")
    assert dataset[0]["_system"] == "You are assistant 0." and dataset[1]["_system"] == ""


def read_like_firefly(path: Path) -> list[dict[str, Any]]:
    """What Firefly's SFT dataset takes from each line: the turns, in order, and an optional system text."""
    examples = []
    for line in path.read_text(encoding="utf-8").splitlines():
        data = json.loads(line)
        turns = [(turn["human"], turn["assistant"]) for turn in data["conversation"]]
        examples.append({"system": data.get("system", ""), "turns": turns})
    return examples


def test_firefly_export_follows_taiyis_released_record(demo_build, tmp_path):
    stage1 = export_build(demo_build.out_dir, "stage1", "firefly", tmp_path)
    stage2 = export_build(demo_build.out_dir, "stage2", "firefly", tmp_path)
    rows = {name: [json.loads(line) for line in Path(s["path"]).read_text().splitlines()]
            for name, s in (("stage1", stage1), ("stage2", stage2))}
    ids = [r["conversation_id"] for stage_rows in rows.values() for r in stage_rows]
    assert len(ids) == len(set(ids)) and all(isinstance(i, int) and i > 0 for i in ids)  # unique across files
    again = export_build(demo_build.out_dir, "stage2", "firefly", tmp_path / "again")
    assert Path(again["path"]).read_bytes() == Path(stage2["path"]).read_bytes()  # stable across exports
    records = list(stage_records(demo_build.out_dir, "stage2"))
    by_category = {r["category"]: r for r in rows["stage2"]}
    assert {"MT-en2zh", "MT-zh2en", "QA_choice", "TP-ss", "TT-ds", "MRD", "NER", "RE", "TC"} <= set(by_category)
    assert by_category["MT-en2zh"]["language"] == "en-zh" and by_category["MT-zh2en"]["language"] == "zh-en"
    for row, record in zip(rows["stage2"], records, strict=True):
        assert row["category"] == taiyi_category(record["task"], record["subtask"])
        assert set(row) == {"conversation_id", "dataset", "category", "language", "conversation"}
    examples = read_like_firefly(Path(stage2["path"]))
    assert len(examples) == len(records)
    dialogue = next(i for i, r in enumerate(records) if r["task"] == "dialogue")
    assert len(examples[dialogue]["turns"]) == len(user_turns(records[dialogue])) > 1


def test_firefly_rows_carry_a_system_text_only_when_the_record_has_one(demo_build, tmp_path):
    build = with_system_turns(demo_build.out_dir, tmp_path / "build")
    summary = export_build(build, "stage2", "firefly", tmp_path / "export")
    examples = read_like_firefly(Path(summary["path"]))
    assert examples[0]["system"] == "You are assistant 0." and examples[1]["system"] == ""
    assert "system" not in json.loads(Path(summary["path"]).read_text().splitlines()[1])


def test_dataset_card_is_hub_valid_and_load_dataset_reads_the_folder(demo_build):
    import datasets

    header = yaml.safe_load((demo_build.out_dir / "README.md").read_text().split("---")[1])
    assert card_problems(header) == []
    assert header["tags"] == ["medical", "biomedical", "instruction-tuning"]
    assert header["source_datasets"] == ["extended"]
    assert [c["config_name"] for c in header["configs"] if c.get("default")] == ["stage2"]
    default = datasets.load_dataset(str(demo_build.out_dir), split="train")
    assert len(default) == demo_build.manifest["outputs"]["stage2"]["rows"]
    test = datasets.load_dataset(str(demo_build.out_dir), "eval", split="test")
    assert len(test) == sum(s["rows"] for s in demo_build.manifest["shards"]
                            if s["stage"] == "eval" and s["split"] == "test")


def test_card_licenses_and_sizes_map_to_hub_vocabulary():
    assert [hub_license(t) for t in ("CC BY 4.0", "MIT", "CC BY-SA 3.0 (annotations)", "CC BY-NC 4.0",
                                     "cc0-1.0", "GPL-3.0", None, "unknown")] == [
        "cc-by-4.0", "mit", "cc-by-sa-3.0", "cc-by-nc-4.0", "cc0-1.0", "gpl-3.0", "unknown", "unknown"]
    assert hub_license("Public domain (NCBI)") == "other" and hub_license("CBLUE terms (research use)") == "other"
    assert [size_category(n) for n in (0, 999, 1_000, 9_999_999, 10_000_000, 250_000_000, 10**13)] == [
        "n<1K", "n<1K", "1K<n<10K", "1M<n<10M", "10M<n<100M", "100M<n<1B", "n>1T"]
    assert card_problems({"license": "other", "size_categories": ["n>10M"], "license_details": "x"}) == [
        "license 'other' needs license_name", "size category 'n>10M' is not one of the Hub's",
        "license_details is legacy metadata: use license_name/license_link"]


def test_card_for_mixed_licenses_names_the_others(shared_catalog):
    from curate.report import dataset_card

    names = ["cmeee", "ncbi_disease"]
    entries = [e for e in shared_catalog.datasets if e.name in names]
    if len(entries) < 2:
        pytest.skip(f"the shared catalog lacks {names}")
    manifest = {"outputs": {"stage1": {}}, "shards": [{"stage": "stage1", "split": "train", "rows": 12_000_000}],
                "catalog": "x.yaml", "seed": 0, "config_hash": "0", "curate_version": "0"}
    stats = {"outputs": {"stage1": {"rows": 12_000_000, "shards": 1, "language_share": {}, "task_share": {},
                                    "written_by_dataset": {e.name: {} for e in entries}}}}
    header = yaml.safe_load(dataset_card(shared_catalog, manifest, stats).split("---")[1])
    assert card_problems(header) == [], header
    assert header["size_categories"] == ["10M<n<100M"]
    assert header["license"] == "other" and header["license_name"] == "multiple-source-licenses"


def test_stats_and_plots_keep_excluded_tasks_apart(demo_build):
    stats = json.loads((demo_build.out_dir / "stats.json").read_text())
    stage1 = stats["outputs"]["stage1"]
    assert set(stage1["excluded_by_stage"]) == {"dialogue.zh", "qa.en", "qa.zh"}  # stage 1 takes no QA/dialogue
    assert stats["outputs"]["stage2"]["excluded_by_stage"] == {}
    for name in ("distribution.png", "quotas.png"):
        png = (demo_build.out_dir / name).read_bytes()
        assert png.startswith(b"\x89PNG") and len(png) > 5000


@pytest.mark.timeout(240)
def test_trl_sft_trainer_trains_on_the_stage_shards(demo_build, tmp_path, repo):
    if importlib.util.find_spec("trl") is None:
        pytest.skip("trl is not installed (pip install trl)")
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    from curate.training.model import train_tokenizer

    texts = [m["content"] for r in stage_records(demo_build.out_dir, "stage2") for m in r["messages"]]
    tokenizer = train_tokenizer(texts, 600)
    torch.manual_seed(0)
    model = Qwen2ForCausalLM(Qwen2Config(hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                                         num_key_value_heads=2, intermediate_size=128, vocab_size=len(tokenizer)))
    tokenizer.save_pretrained(tmp_path / "model")
    model.save_pretrained(tmp_path / "model")
    # the command docs/training.md gives, with a 2-step budget and the CPU
    command = [sys.executable, str(repo / "docs/examples/train_with_trl.py"), "--build", str(demo_build.out_dir),
               "--stage", "stage2", "--model", str(tmp_path / "model"), "--output", str(tmp_path / "run"),
               "--max-steps", "2", "--cpu"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=200)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(next(line for line in reversed(done.stdout.splitlines()) if line.startswith('{"')))
    assert result["global_step"] == 2 and result["rows"] == demo_build.manifest["outputs"]["stage2"]["rows"]
    assert result["train_loss"] > 0 and (tmp_path / "run" / "final" / "config.json").exists()
