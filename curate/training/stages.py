"""Chain the stages: stage 1 trains from the base model, stage 2 from stage 1's Hugging Face weights.

Per stage, ``OUTPUT/<stage>/`` holds ``data_stats.json``, ``metrics.jsonl``, the Ray run with its DeepSpeed
checkpoints (``ray/``), the merged weights (``hf/``) and a ``COMPLETE`` marker. A stage with a marker is
skipped on rerun; a stage without one resumes from its latest checkpoint.
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from curate import storage
from curate.training.config import ConfigError, StageConfig, TrainConfig
from curate.training.data import packing_efficiency, prepare_stage_rows, read_records, shard_paths
from curate.training.loop import CKPT_TAG, TRAINER_STATE, RunContext, train_stage
from curate.training.model import (
    apply_lora,
    build_base_model,
    load_model,
    load_tokenizer,
    state_checksum,
)

log = logging.getLogger(__name__)
COMPLETE = "COMPLETE"


@dataclass
class StageSummary:
    stage: str
    skipped: bool
    hf_dir: str
    init_from: str
    global_step: int
    rows: int
    tokens: int
    packing_efficiency: float
    final_checksum: str | None  # sha256 of the saved hf/ weights
    engine_checksum: str | None = None  # sha256 of the trained weights before saving (None under ZeRO-3/LoRA)


def _build_texts(build_dir: Path, stages: Sequence[StageConfig]) -> Iterator[str]:
    """Message texts of every stage's train shards (each folder once), to train a tokenizer on."""
    for data in dict.fromkeys(s.data for s in stages):
        if not storage.exists(build_dir / data / "manifest.json"):  # the build may be on an object store
            continue  # a stage not built (yet); it is not selected, or selection fails with a clear error
        for rec in read_records(shard_paths(build_dir, data)):
            for m in rec["messages"]:
                yield m["content"]


def resolve_init(
    cfg: TrainConfig, stage: StageConfig, output_dir: Path, base_dir: Path, init_from: str | None
) -> Path:
    """The HF dir a stage starts from: an explicit ``--init-from``, the previous stage's ``hf/``, or base."""
    choice = init_from or stage.init_from
    if choice == "base":
        return base_dir
    if choice != "previous":
        p = Path(choice)
        if not (p / "config.json").is_file():
            raise ConfigError(f"stage {stage.name}: init_from {p} is not a Hugging Face model directory")
        return p
    index = [s.name for s in cfg.stages].index(stage.name)
    if index == 0:
        return base_dir
    prev = cfg.stages[index - 1]
    hf = output_dir / prev.name / "hf"
    if not (output_dir / prev.name / COMPLETE).is_file() or not (hf / "config.json").is_file():
        raise ConfigError(
            f"stage {stage.name} starts from {prev.name}'s weights but {hf} is missing: run --stages "
            f"{prev.name},{stage.name}, or pass --init-from DIR"
        )
    return hf


def save_hf_from_state(state_dict: dict[str, Any], cfg: TrainConfig, model_dir: Path, out_hf: Path) -> str:
    """Load trained weights into ``model_dir``'s architecture (merging LoRA), save as HF; return checksum."""
    model = apply_lora(load_model(model_dir, cfg.model.attn_implementation), cfg.lora)
    missing, unexpected = model.load_state_dict(state_dict, strict=False)
    if unexpected or (missing and not cfg.lora.enabled):
        raise RuntimeError(
            f"checkpoint does not match the model: missing={missing[:5]} unexpected={unexpected[:5]}"
        )
    if cfg.lora.enabled:
        model = model.merge_and_unload()
    checksum = state_checksum(model.state_dict())
    tmp = out_hf.with_name(out_hf.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(str(tmp))
    load_tokenizer(model_dir).save_pretrained(str(tmp))
    shutil.rmtree(out_hf, ignore_errors=True)
    tmp.rename(out_hf)
    return checksum


def deepspeed_checkpoint_to_hf(ckpt_dir: Path, cfg: TrainConfig, model_dir: Path, out_hf: Path) -> str:
    """Consolidate a (ZeRO-2/3, per-rank) DeepSpeed checkpoint to fp32 weights and save them as HF."""
    from deepspeed.utils.zero_to_fp32 import get_fp32_state_dict_from_zero_checkpoint

    state = get_fp32_state_dict_from_zero_checkpoint(str(ckpt_dir), tag=CKPT_TAG)
    return save_hf_from_state(dict(state), cfg, model_dir, out_hf)


def _local_context(cfg: TrainConfig, stage_dir: Path, resume_from: str | None) -> RunContext:
    """Single-process checkpoints: ``<stage>/checkpoints/step-*``, the newest ``keep_checkpoints``."""
    root = stage_dir / "checkpoints"
    done = sorted(d for d in root.glob("step-*") if (d / TRAINER_STATE).is_file())
    resume = Path(resume_from) if resume_from else (done[-1] if done else None)

    def report(metrics: dict[str, Any], directory: Path | None) -> None:
        finished = sorted(d for d in root.glob("step-*") if (d / TRAINER_STATE).is_file())
        for old in finished[: -cfg.keep_checkpoints]:
            shutil.rmtree(old, ignore_errors=True)

    return RunContext(report=report, resume_dir=resume, scratch_dir=root)


def run_stages(
    cfg: TrainConfig,
    build_dir: str | Path,
    output_dir: str | Path,
    stages: Sequence[str] | None = None,
    use_ray: bool = True,
    init_from: str | None = None,
    resume_from: str | None = None,
) -> list[StageSummary]:
    """Run the selected stages (names or 1-based indices; all by default) in config order."""
    build, output = Path(build_dir), Path(output_dir)
    output.mkdir(parents=True, exist_ok=True)
    selected = [cfg.stage(k) for k in stages] if stages else list(cfg.stages)
    selected.sort(key=lambda s: [x.name for x in cfg.stages].index(s.name))
    # validate every selected stage's data before spending time on the first
    for stage in selected:
        shard_paths(build, stage.data)
    base_dir = build_base_model(cfg.model, output / "base", _build_texts(build, cfg.stages), cfg.seed)
    (output / "train_config.json").write_text(cfg.model_dump_json(indent=2) + "\n")

    summaries = []
    for stage in selected:
        sdir = output / stage.name
        marker = sdir / COMPLETE
        if marker.is_file():
            log.info("stage %s already complete (%s); skipping", stage.name, marker)
            summaries.append(StageSummary(**{**json.loads(marker.read_text()), "skipped": True}))
            continue
        sdir.mkdir(parents=True, exist_ok=True)
        model_dir = resolve_init(cfg, stage, output, base_dir, init_from if stage is selected[0] else None)
        rows: Any
        if use_ray:  # tokenize and pack on Ray Data workers; the driver holds integer columns only
            from curate.training.prepare import prepare_stage_dataset

            rows = prepare_stage_dataset(
                model_dir,
                build,
                stage.data,
                cfg.max_seq_len,
                cfg.packing,
                cfg.pack_window_records,
                cfg.prepare_workers,
                cfg.prepare_cpus_per_worker,
            )
            stats, num_rows = rows.stats, rows.num_rows
            efficiency = rows.efficiency(cfg.micro_batch_size, cfg.packing, cfg.max_seq_len)
            prepared = {
                "windows": rows.windows,
                "worker_peak_rss_bytes": rows.worker_peak_rss_bytes,
                "worker_anon_rss_bytes": rows.worker_anon_rss_bytes,
            }
        else:
            rows, stats = prepare_stage_rows(
                load_tokenizer(model_dir), build, stage.data, cfg.max_seq_len, cfg.packing
            )
            num_rows = len(rows)
            efficiency = packing_efficiency(rows, cfg.micro_batch_size, cfg.packing, cfg.max_seq_len)
            prepared = {"windows": 1}
        (sdir / "data_stats.json").write_text(
            json.dumps(
                {**asdict(stats), "rows": num_rows, "packing_efficiency": efficiency, "prepared": prepared},
                indent=2,
            )
            + "\n"
        )
        hf = sdir / "hf"
        if use_ray:
            from curate.training.ray_train import latest_checkpoint, run_stage_on_ray

            resume = (
                Path(resume_from) if resume_from and stage is selected[0] else latest_checkpoint(sdir / "ray")
            )
            result = run_stage_on_ray(cfg, stage, model_dir, rows, sdir, resume_from=resume)
            hf_checksum = deepspeed_checkpoint_to_hf(result.checkpoint_dir, cfg, model_dir, hf)
            global_step = int(result.metrics.get("global_step", 0))
            engine_checksum = result.metrics.get("checksum")
        else:
            outcome = train_stage(
                cfg,
                stage,
                model_dir,
                rows,
                sdir,
                _local_context(cfg, sdir, resume_from if stage is selected[0] else None),
            )
            hf_checksum = save_hf_from_state(outcome.module.state_dict(), cfg, model_dir, hf)
            global_step, engine_checksum = outcome.global_step, outcome.final_checksum
        if engine_checksum is not None and engine_checksum != hf_checksum:
            raise RuntimeError(f"stage {stage.name}: saved HF weights differ from the trained weights")
        summary = StageSummary(
            stage=stage.name,
            skipped=False,
            hf_dir=str(hf),
            init_from=str(model_dir),
            global_step=global_step,
            rows=num_rows,
            tokens=stats.tokens,
            packing_efficiency=efficiency,
            final_checksum=hf_checksum,
            engine_checksum=engine_checksum,
        )
        marker.write_text(json.dumps(asdict(summary), indent=2) + "\n")
        summaries.append(summary)
    return summaries
