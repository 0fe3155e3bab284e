"""Training: fast unit tests (labels, packing, batch plan, DeepSpeed config, errors) and Ray + DeepSpeed runs.

The Ray tests train a tiny Qwen2 (hidden 64, 2 layers) with 2 workers and ZeRO-2 on CPU through both stages
of a fixture build, then check the loss falls per stage, stage 2 starts bitwise from stage 1's final weights,
and a run killed mid-stage and resumed by Ray ends with the same weights and losses as an uninterrupted one.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest

from tests.training_fixtures import build_texts, write_fixture_build

ROOT = Path(__file__).resolve().parent.parent
ENV = {
    "DS_ACCELERATOR": "cpu",
    "RAY_AUTH_MODE": "disabled",
    "OMP_NUM_THREADS": "1",
    "HF_HUB_OFFLINE": "1",
    "TORCH_EXTENSIONS_DIR": str(ROOT / ".torch_extensions"),  # git-ignored; DeepSpeed's shm op builds once
    "TOKENIZERS_PARALLELISM": "false",
}
os.environ.update({k: os.environ.get(k, v) for k, v in ENV.items()})

TINY = (
    "{hidden_size: 64, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2, "
    "intermediate_size: 128}"
)
TINY_OVERRIDES = [
    f"model.architecture={TINY}",
    "model.tokenizer_vocab_size=800",
    "max_seq_len=256",
    "micro_batch_size=2",
    "num_workers=2",
    "cpus_per_worker=0.5",
    "checkpoint_every_steps=4",
    "stages.0.epochs=2",
    "stages.1.epochs=1",
    "stages.0.lr=2e-3",
    "stages.1.lr=1e-3",
    "warmup_ratio=0.1",
]


@pytest.fixture(scope="module")
def build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_fixture_build(tmp_path_factory.mktemp("build") / "build")


@pytest.fixture(scope="module")
def tokenizer(build: Path) -> Any:
    from curate.training.model import train_tokenizer

    return train_tokenizer(build_texts(build), 800)


# ------------------------------------------------------------------ labels


@pytest.mark.timeout(60)
def test_labels_cover_exactly_the_assistant_turns_and_their_end_token(tokenizer: Any) -> None:
    from curate.training.data import IGNORE_INDEX, tokenize_chat

    messages = [
        {"role": "system", "content": "You are a careful clinician."},
        {"role": "user", "content": "Is aspirin an anticoagulant?"},
        {"role": "assistant", "content": "No, aspirin is an antiplatelet drug."},
        {"role": "user", "content": "阿司匹林能和肝素一起用吗？"},
        {"role": "assistant", "content": "需要在医生指导下使用。"},
    ]
    ids, labels = tokenize_chat(tokenizer, messages)
    assert len(ids) == len(labels)
    kept = [i for i, lab in zip(ids, labels, strict=True) if lab != IGNORE_INDEX]
    assert all(lab in (IGNORE_INDEX, i) for i, lab in zip(ids, labels, strict=True))
    expected = "".join(m["content"] + "<|im_end|>\n" for m in messages if m["role"] == "assistant")
    assert tokenizer.decode(kept) == expected
    # nothing of the system or user turns, nor the role headers, is labelled
    masked_text = tokenizer.decode([i for i, lab in zip(ids, labels, strict=True) if lab == IGNORE_INDEX])
    for m in messages:
        if m["role"] != "assistant":
            assert m["content"] in masked_text
    assert masked_text.count("<|im_start|>assistant") == 2


@pytest.mark.timeout(60)
def test_truncated_records_without_answer_tokens_are_dropped(tokenizer: Any) -> None:
    from curate.training.data import tokenize_records

    long_prompt = [
        {"role": "user", "content": "word " * 300},
        {"role": "assistant", "content": "answer"},
    ]
    short = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]
    examples, stats = tokenize_records(
        tokenizer, [{"id": "a", "messages": long_prompt}, {"id": "b", "messages": short}], 64
    )
    assert [e.id for e in examples] == ["b"]
    assert stats.truncated == 1 and stats.dropped_no_assistant_tokens == 1


@pytest.mark.timeout(60)
def test_batched_tokenization_equals_one_conversation_at_a_time(build: Path, tokenizer: Any) -> None:
    from curate.training.data import (
        IGNORE_INDEX,
        TOKENIZE_BATCH,
        read_records,
        shard_paths,
        tokenize_chat,
        tokenize_records,
    )

    records = read_records(shard_paths(build, "stage2"))
    assert len(records) > TOKENIZE_BATCH  # the batches' seam is crossed
    examples, stats = tokenize_records(tokenizer, records, 10_000)
    assert stats.records == len(records) == len(examples)
    def encode(messages: list[dict[str, str]], prompt: bool) -> list[int]:
        text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=prompt)
        return list(tokenizer(text, add_special_tokens=False)["input_ids"])

    for rec, ex in zip(records, examples, strict=True):
        msgs = [dict(m) for m in rec["messages"]]
        full = encode(msgs, False)  # reference: every rendering encoded on its own
        labels = [IGNORE_INDEX] * len(full)
        for i, m in enumerate(msgs):
            if m["role"] == "assistant":
                start, end = len(encode(msgs[:i], True)), len(encode(msgs[: i + 1], False))
                labels[start:end] = full[start:end]
        assert (ex.input_ids, ex.labels) == (full, labels) == tokenize_chat(tokenizer, rec["messages"])


@pytest.mark.timeout(60)
def test_a_turn_edge_inside_a_token_falls_back_to_encoding_every_prefix() -> None:
    """A template that glues turns together lets BPE merge across a turn's edge: the character method gives
    up there and the result is the reference method's (which encodes each prefix rendering)."""
    from curate.training.data import _chat_texts, _labels_by_characters, _labels_by_prefix_tokens, tokenize_chats
    from curate.training.model import train_tokenizer

    tok = train_tokenizer(["abcd"] * 200 + ["ab cd"] * 5, 300)
    tok.chat_template = "{% for m in messages %}{{ m['content'] }}{% endfor %}"
    glued = [{"role": "user", "content": "ab"}, {"role": "assistant", "content": "cd"}]
    spaced = [{"role": "user", "content": "ab "}, {"role": "assistant", "content": "cd"}]
    texts = _chat_texts(tok, glued)
    encoded = tok([texts[0]], add_special_tokens=False)
    assert len(encoded["input_ids"][0]) == 1  # "abcd" is one token: the edge at "ab|cd" is inside it
    assert _labels_by_characters(encoded.encodings[0], texts, encoded["input_ids"][0]) is None
    assert tokenize_chats(tok, [glued, spaced]) == [
        _labels_by_prefix_tokens(tok, _chat_texts(tok, glued)),
        _labels_by_prefix_tokens(tok, _chat_texts(tok, spaced)),
    ]


# ------------------------------------------------------------------ packing


@pytest.mark.timeout(120)
@pytest.mark.parametrize("attn", ["sdpa", "eager"])
def test_packed_forward_equals_separate_forwards(build: Path, tokenizer: Any, attn: str) -> None:
    import torch

    from curate.training.data import collate, pack_examples, read_records, shard_paths, tokenize_records

    examples, _ = tokenize_records(tokenizer, read_records(shard_paths(build, "stage2"))[:60], 256)
    by_id = {e.id: e for e in examples}
    rows = pack_examples(examples, 256)
    multi = [r for r in rows if len(r.example_ids) >= 3][:2]
    assert len(multi) == 2, "fixture should pack at least 3 examples into some rows"
    from curate.training.attention import tiny_model

    model = tiny_model(attn, vocab_size=len(tokenizer))
    batch = collate(multi, tokenizer.pad_token_id, packing=True, max_seq_len=256)
    with torch.no_grad():
        packed = model(
            input_ids=batch["input_ids"], position_ids=batch["position_ids"], use_cache=False
        ).logits
        leaky = model(input_ids=batch["input_ids"], use_cache=False).logits  # one causal mask over the row
        worst = 0.0
        leak = 0.0
        for b, row in enumerate(multi):
            offset = 0
            for eid in row.example_ids:
                ids = by_id[eid].input_ids
                alone = model(input_ids=torch.tensor([ids]), use_cache=False).logits[0]
                worst = max(worst, (alone - packed[b, offset : offset + len(ids)]).abs().max().item())
                leak = max(leak, (alone - leaky[b, offset : offset + len(ids)]).abs().max().item())
                offset += len(ids)
    assert worst < 1e-4, f"packed logits differ from separate forwards by {worst}"
    assert leak > 1e-2, "control: without position resets the examples must see each other"


@pytest.mark.timeout(60)
def test_packing_is_deterministic_fits_and_keeps_every_example(build: Path, tokenizer: Any) -> None:
    from curate.training.data import pack_examples, read_records, shard_paths, tokenize_records

    examples, _ = tokenize_records(tokenizer, read_records(shard_paths(build, "stage2")), 256)
    shuffled = list(examples)
    random.Random(1).shuffle(shuffled)
    a, b = pack_examples(examples, 256), pack_examples(shuffled, 256)
    assert [r.example_ids for r in a] == [r.example_ids for r in b]
    assert sorted(e for r in a for e in r.example_ids) == sorted(e.id for e in examples)
    for r in a:
        assert len(r.input_ids) == len(r.labels) == len(r.position_ids) <= 256
        starts = [i for i, p in enumerate(r.position_ids) if p == 0]
        assert len(starts) == len(r.example_ids)
    with pytest.raises(ValueError, match="max_seq_len"):
        pack_examples(examples, 8)


@pytest.mark.timeout(60)
def test_packing_efficiency_beats_padding(build: Path, tokenizer: Any) -> None:
    from curate.training.data import packing_efficiency, prepare_stage_rows

    packed, _ = prepare_stage_rows(tokenizer, build, "stage2", 512, packing=True)
    padded, _ = prepare_stage_rows(tokenizer, build, "stage2", 512, packing=False)
    eff_packed = packing_efficiency(packed, 2, True, 512)
    eff_padded = packing_efficiency(padded, 2, False, 512)
    assert eff_packed >= 0.95
    assert eff_packed > eff_padded + 0.1
    assert len(packed) < len(padded) / 5


@pytest.mark.timeout(120)
def test_cpu_benchmark_reports_packing_efficiency_at_least_95_percent(tmp_path: Path) -> None:
    big = write_fixture_build(tmp_path / "build", n_stage1=800, n_stage2_extra=400)
    cmd = [
        sys.executable,
        str(ROOT / "bench" / "train_throughput.py"),
        "--build",
        str(big),
        "--cpu",
        "--json",
    ]
    cmd += ["--steps", "1", "--warmup", "1"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=110, cwd=ROOT, env=os.environ.copy())
    assert out.returncode == 0, out.stderr[-2000:]
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert set(report["packing_efficiency"]) == {
        "stage1/packed",
        "stage1/padded",
        "stage2/packed",
        "stage2/padded",
    }
    assert report["min_packed_efficiency"] >= 0.95
    assert report["packing_efficiency"]["stage2/padded"] < 0.9
    assert {r["packing"] for r in report["runs"]} == {True, False}
    assert all(r["tokens_per_s"] > 0 for r in report["runs"])


# ------------------------------------------------------------------ batch plan


@pytest.mark.timeout(30)
@pytest.mark.parametrize(("rows", "micro", "accum", "world"), [(41, 2, 2, 2), (40, 2, 1, 2), (7, 1, 1, 3)])
def test_every_rank_gets_the_same_number_of_full_steps_and_the_tail_is_dropped(
    rows: int, micro: int, accum: int, world: int
) -> None:
    from curate.training.data import epoch_order, rank_micro_batches, steps_per_epoch

    spe = steps_per_epoch(rows, micro, accum, world)
    assert spe == rows // (micro * accum * world)
    order = epoch_order(rows, seed=3, epoch=1)
    assert order == epoch_order(rows, seed=3, epoch=1) and sorted(order) == list(range(rows))
    seen: list[int] = []
    for rank in range(world):
        plan = [rank_micro_batches(order, s, rank, world, micro, accum) for s in range(spe)]
        assert len(plan) == spe and all(len(mb) == micro for step in plan for mb in step)
        seen.extend(i for step in plan for mb in step for i in mb)
    assert len(seen) == len(set(seen)) == spe * micro * accum * world  # disjoint, tail dropped
    with pytest.raises(AssertionError):
        rank_micro_batches(order, spe, world - 1, world, micro, accum)


# ------------------------------------------------------------------ config


@pytest.mark.timeout(60)
def test_deepspeed_config_is_generated_from_the_typed_config(tmp_path: Path) -> None:
    from deepspeed.runtime.config import DeepSpeedConfig

    from curate.training.config import load_config, to_deepspeed_config

    path = tmp_path / "c.yaml"
    path.write_text("model: {path: /m}\nmicro_batch_size: 3\ngrad_accum: 4\nzero_stage: 2\n")
    cfg = load_config(path, ["zero_stage=3", "cpu_offload=true", "stages.1.lr=5e-5"])
    assert cfg.zero_stage == 3 and cfg.stages[1].lr == 5e-5 and cfg.stages[0].epochs == 5
    ds = to_deepspeed_config(cfg, world_size=1, bf16=True, lr=1e-4)
    parsed = DeepSpeedConfig(ds)  # DeepSpeed's own validation, batch arithmetic included
    assert parsed.train_batch_size == 12 and parsed.gradient_accumulation_steps == 4
    assert parsed.zero_optimization_stage == 3
    assert ds["zero_optimization"]["offload_optimizer"]["device"] == "cpu"
    assert ds["optimizer"]["type"] == "AdamW" and ds["bf16"]["enabled"] is True
    plain = to_deepspeed_config(load_config(path), world_size=8, bf16=False, lr=1e-4)
    assert plain["train_batch_size"] == 3 * 4 * 8 and "optimizer" not in plain
    assert "offload_optimizer" not in plain["zero_optimization"] and plain["bf16"]["enabled"] is False


@pytest.mark.timeout(30)
def test_config_errors_name_the_file_and_the_key(tmp_path: Path) -> None:
    from curate.training.config import ConfigError, load_config

    with pytest.raises(ConfigError, match=r"missing\.yaml not found"):
        load_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: {path: /m}\nzero_stage: 1\nmicro_btach_size: 2\n")
    with pytest.raises(ConfigError) as err:
        load_config(bad)
    assert (
        "bad.yaml" in str(err.value)
        and "zero_stage" in str(err.value)
        and "micro_btach_size" in str(err.value)
    )
    with pytest.raises(ConfigError, match=r"exactly one of model\.path"):
        load_config(None, ["model={}"])


@pytest.mark.timeout(30)
def test_data_errors_name_the_missing_manifest_and_empty_stage(tmp_path: Path, build: Path) -> None:
    from curate.training.data import DataError, shard_paths
    from tests.training_fixtures import write_stage

    with pytest.raises(DataError, match=r"build directory .* not found"):
        shard_paths(tmp_path / "nope", "stage1")
    with pytest.raises(DataError, match=r"stage3[/\\]manifest\.json not found.*stage1"):
        shard_paths(build, "stage3")
    write_stage(tmp_path / "b" / "stage1", "stage1", [], rows_per_shard=10)
    with pytest.raises(DataError, match="stage 'stage1' is empty"):
        shard_paths(tmp_path / "b", "stage1")


@pytest.mark.timeout(30)
def test_print_submit_line_and_light_command_module() -> None:
    code = (
        "import sys; import curate.commands.train as t;"
        "heavy = [m for m in ('torch', 'ray', 'deepspeed', 'transformers') if m in sys.modules];"
        "print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=30)
    assert out.stdout.strip() == "[]", out.stderr
    from curate.commands.train import submit_line

    line = submit_line(Path("b"), Path("c.yaml"), Path("o"), "1,2", ["lr=1"], "http://head:8265", "m")
    # copy-pasteable from any folder: absolute paths, the runtime env, the job address
    assert line.startswith(f"ray job submit --address http://head:8265 --working-dir {ROOT} --runtime-env "
                           f"{ROOT}/ray_jobs/runtime_env.yaml -- python ray_jobs/train.py --build {Path.cwd()}/b")
    assert f"--config {Path.cwd()}/c.yaml" in line and f"--init-from {Path.cwd()}/m" in line
    assert "--stages 1,2" in line and "--set lr=1" in line


# ------------------------------------------------------------------ single process (no Ray)


@pytest.mark.timeout(120)
def test_single_process_stage_trains_and_saves_hf_weights(build: Path, tmp_path: Path) -> None:
    from curate.training.config import load_config
    from curate.training.loop import read_losses
    from curate.training.model import load_model, state_checksum
    from curate.training.stages import run_stages

    cfg = load_config(None, [*TINY_OVERRIDES, "stages.0.epochs=1"])
    (summary,) = run_stages(cfg, build, tmp_path / "out", ["1"], use_ray=False)
    losses = list(read_losses(tmp_path / "out" / "stage1" / "metrics.jsonl").values())
    rows = json.loads((tmp_path / "out" / "stage1" / "data_stats.json").read_text())["rows"]
    assert len(losses) == summary.global_step == rows // 2 == summary.rows // 2
    assert sum(losses[-3:]) / 3 < sum(losses[:3]) / 3 - 0.3
    assert state_checksum(load_model(summary.hf_dir).state_dict()) == summary.final_checksum


# ------------------------------------------------------------------ Ray Train + DeepSpeed


@pytest.fixture(scope="module")
def ray_cluster() -> Any:
    import ray

    temp = tempfile.mkdtemp(prefix="rt", dir="/tmp")
    started = not ray.is_initialized()
    if started:
        ray.init(num_cpus=2, include_dashboard=False, _temp_dir=temp, _node_ip_address="127.0.0.1")
    import ray.data

    ray.data.DataContext.get_current().enable_progress_bars = False
    yield ray
    if started:
        ray.shutdown()
    shutil.rmtree(temp, ignore_errors=True)


@pytest.fixture(scope="module")
def two_stage_run(ray_cluster: Any, build: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from curate.training.config import load_config
    from curate.training.stages import run_stages

    out = tmp_path_factory.mktemp("train") / "out"
    summaries = run_stages(load_config(None, TINY_OVERRIDES), build, out, ["1", "2"])
    return {"out": out, "summaries": {s.stage: s for s in summaries}}


@pytest.mark.ray
@pytest.mark.slow
# (600 s, as the two tests below: the first of them to run makes the module's two-stage run in its setup,
# 73-96 s alone and 169 s beside another xdist worker on 2 cores)
@pytest.mark.timeout(600)
def test_loss_falls_within_each_stage(two_stage_run: dict[str, Any]) -> None:
    from curate.training.loop import read_losses

    for stage, epochs in (("stage1", 2), ("stage2", 1)):
        rows = json.loads((two_stage_run["out"] / stage / "data_stats.json").read_text())["rows"]
        steps = rows // (2 * 2) * epochs  # micro batch 2 x 2 workers, last partial batch dropped
        losses = list(read_losses(two_stage_run["out"] / stage / "metrics.jsonl").values())
        assert len(losses) == steps == two_stage_run["summaries"][stage].global_step
        first, last = sum(losses[:3]) / 3, sum(losses[-3:]) / 3
        assert last < first - 0.5, f"{stage}: loss did not fall ({first:.3f} -> {last:.3f})"


@pytest.mark.ray
@pytest.mark.slow
@pytest.mark.timeout(600)
def test_stage2_starts_from_stage1_final_weights_exactly(two_stage_run: dict[str, Any]) -> None:
    out, s = two_stage_run["out"], two_stage_run["summaries"]
    start = json.loads((out / "stage2" / "start_weights.json").read_text())
    assert Path(start["model_dir"]) == out / "stage1" / "hf" == Path(s["stage2"].init_from)
    # stage 1's engine weights at its last step == its saved hf/ weights == what stage 2 loaded
    assert s["stage1"].engine_checksum == s["stage1"].final_checksum == start["checksum"]
    base = json.loads((out / "stage1" / "start_weights.json").read_text())
    assert base["checksum"] != start["checksum"]  # control: training changed the weights
    assert (out / "stage1" / "COMPLETE").is_file() and (out / "stage2" / "COMPLETE").is_file()


@pytest.mark.ray
@pytest.mark.slow
@pytest.mark.timeout(600)
def test_killed_and_resumed_stage_matches_an_uninterrupted_one(
    two_stage_run: dict[str, Any], build: Path, tmp_path: Path
) -> None:
    from curate.training.config import load_config
    from curate.training.loop import read_losses
    from curate.training.stages import run_stages

    out = tmp_path / "out"
    cfg = load_config(None, [*TINY_OVERRIDES, "fail_at_step=6", "max_failures=1"])
    (resumed,) = run_stages(cfg, build, out, ["1"])
    lines = [json.loads(x) for x in (out / "stage1" / "metrics.jsonl").read_text().splitlines()]
    steps = [x["step"] for x in lines]
    # it really failed after step 6 and Ray restarted it from the step-4 checkpoint
    assert (out / "stage1" / ".failure_injected_rank0").is_file()
    assert steps[:8] == [1, 2, 3, 4, 5, 6, 5, 6]
    reference = two_stage_run["summaries"]["stage1"]
    assert resumed.global_step == reference.global_step
    assert resumed.final_checksum == reference.final_checksum  # bitwise-equal final weights
    assert read_losses(out / "stage1" / "metrics.jsonl") == pytest.approx(
        read_losses(two_stage_run["out"] / "stage1" / "metrics.jsonl"), abs=1e-6
    )


@pytest.mark.ray
@pytest.mark.slow
@pytest.mark.timeout(120)
def test_rerun_skips_finished_stages_and_generate_writes_sorted_predictions(
    two_stage_run: dict[str, Any], build: Path, tmp_path: Path
) -> None:
    from curate.training.config import load_config
    from curate.training.generate import generate_predictions
    from curate.training.stages import run_stages

    again = run_stages(load_config(None, TINY_OVERRIDES), build, two_stage_run["out"], ["1", "2"])
    assert [s.skipped for s in again] == [True, True]
    assert again[1].final_checksum == two_stage_run["summaries"]["stage2"].final_checksum

    preds = tmp_path / "pred.jsonl"
    summary = generate_predictions(
        two_stage_run["out"] / "stage2" / "hf", build, preds, "test", batch_size=4, max_new_tokens=8
    )
    lines = [json.loads(x) for x in preds.read_text(encoding="utf-8").splitlines()]
    assert summary["records"] == len(lines) == 12
    ids = [x["id"] for x in lines]
    assert ids == sorted(ids) and len(set(ids)) == 12
    assert all(set(x) == {"id", "prediction"} and isinstance(x["prediction"], str) for x in lines)


@pytest.mark.timeout(120)
def test_train_and_generate_commands_without_ray(build: Path, tmp_path: Path) -> None:
    import typer
    from typer.testing import CliRunner

    from curate.commands.train import generate_command, train_command

    app = typer.Typer()
    app.command("train")(train_command)
    app.command("generate")(generate_command)
    runner = CliRunner()
    out = tmp_path / "out"
    sets = [a for o in [*TINY_OVERRIDES, "stages.0.epochs=1"] for a in ("--set", o)]
    res = runner.invoke(
        app, ["train", "--build", str(build), "--output", str(out), "--stages", "1", "--no-ray", *sets]
    )
    assert res.exit_code == 0, res.output
    assert "stage1:" in res.output and (out / "stage1" / "COMPLETE").is_file()
    res = runner.invoke(
        app, ["train", "--build", str(build), "--output", str(out), "--stages", "1", "--no-ray", *sets]
    )
    assert res.exit_code == 0 and "skipped" in res.output
    # stage 2 alone needs stage 1's weights or --init-from: here it finds them; a missing dir is an error
    res = runner.invoke(
        app, ["train", "--build", str(build), "--output", str(out), "--stages", "2", "--no-ray",
              "--init-from", str(tmp_path / "nowhere"), *sets],
    )  # fmt: skip
    assert res.exit_code == 1 and "not a Hugging Face model directory" in " ".join(res.output.split())
    res = runner.invoke(app, ["train", "--build", str(tmp_path / "missing"), "--no-ray", *sets])
    assert res.exit_code == 1 and "not found" in " ".join(res.output.split())

    preds = tmp_path / "p.jsonl"
    res = runner.invoke(
        app, ["generate", "--model", str(out / "stage1" / "hf"), "--build", str(build), "--out", str(preds),
              "--limit", "3", "--max-new-tokens", "4"],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    assert len(preds.read_text().splitlines()) == 3
    res = runner.invoke(app, ["generate", "--model", str(out / "stage1" / "hf"), "--build", str(build),
                              "--split", "dev"])  # fmt: skip
    assert res.exit_code == 1 and "empty" in res.output


@pytest.mark.timeout(120)
def test_lora_stage_merges_adapters_into_plain_hf_weights(build: Path, tmp_path: Path) -> None:
    import torch

    from curate.training.config import load_config
    from curate.training.model import load_model
    from curate.training.stages import run_stages

    cfg = load_config(None, [*TINY_OVERRIDES, "stages.0.epochs=1", "lora.enabled=true", "lora.r=8"])
    (summary,) = run_stages(cfg, build, tmp_path / "out", ["1"], use_ray=False)
    base = load_model(tmp_path / "out" / "base").state_dict()
    merged = load_model(summary.hf_dir).state_dict()
    assert set(merged) == set(base)  # no adapter keys left: a plain HF model
    emb = "model.embed_tokens.weight"
    assert torch.equal(merged[emb], base[emb])  # frozen, not a LoRA target
    q = "model.layers.0.self_attn.q_proj.weight"
    assert not torch.equal(merged[q], base[q])  # the adapter's update was merged in


@pytest.mark.timeout(120)
def test_single_process_run_resumes_from_its_last_checkpoint_after_a_crash(
    build: Path, tmp_path: Path
) -> None:
    from curate.training.config import load_config
    from curate.training.loop import InjectedFailure, read_losses
    from curate.training.stages import run_stages

    overrides = [*TINY_OVERRIDES, "stages.0.epochs=1"]
    (reference,) = run_stages(load_config(None, overrides), build, tmp_path / "ref", ["1"], use_ray=False)
    cfg = load_config(None, [*overrides, "fail_at_step=7"])
    with pytest.raises(InjectedFailure):
        run_stages(cfg, build, tmp_path / "out", ["1"], use_ray=False)
    assert not (tmp_path / "out" / "stage1" / "COMPLETE").exists()
    (resumed,) = run_stages(cfg, build, tmp_path / "out", ["1"], use_ray=False)  # the rerun resumes at step 4
    steps = [
        json.loads(x)["step"]
        for x in (tmp_path / "out" / "stage1" / "metrics.jsonl").read_text().splitlines()
    ]
    assert steps[:9] == [1, 2, 3, 4, 5, 6, 7, 5, 6]
    assert resumed.final_checksum == reference.final_checksum
    assert read_losses(tmp_path / "out" / "stage1" / "metrics.jsonl") == pytest.approx(
        read_losses(tmp_path / "ref" / "stage1" / "metrics.jsonl"), abs=1e-6
    )
    assert len(list((tmp_path / "out" / "stage1" / "checkpoints").glob("step-*"))) <= 2  # keep_checkpoints


@pytest.mark.timeout(60)
def test_rows_survive_the_arrow_round_trip_to_workers_in_any_batch_order(build: Path, tokenizer: Any) -> None:
    from curate.training.data import prepare_stage_rows, row_table_from_batches, rows_to_table

    rows, _ = prepare_stage_rows(tokenizer, build, "stage1", 256, packing=True)
    batches = rows_to_table(rows).to_batches(max_chunksize=7)
    random.Random(0).shuffle(batches)  # Ray Data may hand blocks over in any order
    table = row_table_from_batches(batches)
    assert len(table) == len(rows)
    assert [table[i] for i in range(len(rows))] == rows
    with pytest.raises(IndexError):
        table[len(rows)]
