"""Run one stage on Ray Train: a ``TorchTrainer`` whose workers each drive a DeepSpeed engine.

The packed rows go to the workers as a materialized Ray Dataset (``prepare.prepare_stage_dataset``) that is
deliberately *not* split: each worker streams it through ``ray.train.get_dataset_shard`` once per epoch and
keeps only the rows of its rank's micro-batches (``prepare.RankRows``, ``data.rank_micro_batches``), so every
rank runs the same number of steps (``rows // global batch``, known on the driver before training starts) and
the plan is identical across restarts. Each
checkpoint is a DeepSpeed checkpoint saved per rank and reported with ``ray.train.report``;
``FailureConfig(max_failures)`` restarts the worker group from the last one (``ray.train.get_checkpoint``).
A checkpoint of an earlier run is passed in the loop config (Ray Train V2 has no ``resume_from_checkpoint``).
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from curate.training.config import StageConfig, TrainConfig
from curate.training.data import PackedRow
from curate.training.loop import TRAINER_STATE, RunContext, train_stage
from curate.training.prepare import PreparedStage, RankRows, in_memory_stage


@dataclass
class RayStageResult:
    checkpoint_dir: Path
    metrics: dict[str, Any]


def _worker_loop(config: dict[str, Any]) -> None:
    """Runs on every Ray Train worker."""
    import ray.train

    cfg = TrainConfig.model_validate(config["cfg"])
    stage = StageConfig.model_validate(config["stage"])
    context = ray.train.get_context()
    rank, world = context.get_world_rank(), context.get_world_size()

    shard = ray.train.get_dataset_shard("train")
    rows = RankRows(
        lambda: shard.iter_batches(batch_size=1024, batch_format="pyarrow"), config["offsets"], config["num_rows"]
    )

    scratch = Path(tempfile.mkdtemp(prefix=f"curate-{stage.name}-r{rank}-"))
    resume_dir: Path | None = None
    restored = ray.train.get_checkpoint()  # set after a worker failure within this run
    if restored is not None:
        resume_dir = Path(restored.to_directory(str(scratch / "restore")))
    elif config.get("resume_from"):
        resume_dir = Path(ray.train.Checkpoint(config["resume_from"]).to_directory(str(scratch / "restore")))

    def report(metrics: dict[str, Any], directory: Path | None) -> None:
        checkpoint = ray.train.Checkpoint.from_directory(str(directory)) if directory else None
        ray.train.report(metrics, checkpoint=checkpoint)
        if directory is not None:
            shutil.rmtree(directory, ignore_errors=True)

    try:
        train_stage(
            cfg,
            stage,
            Path(config["model_dir"]),
            rows,
            Path(config["out_dir"]),
            RunContext(
                rank=rank, world_size=world, report=report, resume_dir=resume_dir, scratch_dir=scratch
            ),
        )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def latest_checkpoint(storage_dir: Path) -> Path | None:
    """The most advanced complete checkpoint of earlier runs of a stage under its Ray storage folder."""
    best: tuple[int, Path] | None = None
    for state_file in storage_dir.glob(f"**/checkpoint_*/{TRAINER_STATE}"):
        folder = state_file.parent
        if not (folder / "latest").is_file():
            continue
        step = int(json.loads(state_file.read_text())["global_step"])
        if best is None or step > best[0]:
            best = (step, folder)
    return best[1] if best else None


def use_gpu_for(cfg: TrainConfig) -> bool:
    if cfg.use_gpu != "auto":
        return bool(cfg.use_gpu)
    import ray

    return ray.cluster_resources().get("GPU", 0) >= cfg.num_workers


def run_stage_on_ray(
    cfg: TrainConfig,
    stage: StageConfig,
    model_dir: Path,
    rows: PreparedStage | list[PackedRow],
    out_dir: Path,
    resume_from: Path | None = None,
) -> RayStageResult:
    """Train one stage with ``cfg.num_workers`` Ray workers; returns the final checkpoint and metrics.

    ``rows`` is a stage prepared on Ray Data workers, or rows prepared in memory (sent as one window).
    """
    import ray
    import ray.data
    from ray.train import CheckpointConfig, DataConfig, FailureConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    # one progress line per epoch and worker drowns the training log; curate reports steps itself
    ray.data.DataContext.get_current().enable_progress_bars = False
    if isinstance(rows, PreparedStage):
        dataset, offsets, num_rows = rows.dataset, rows.offsets, rows.num_rows
    else:
        (dataset, offsets), num_rows = in_memory_stage(rows), len(rows)
    trainer = TorchTrainer(
        train_loop_per_worker=_worker_loop,
        train_loop_config={
            "cfg": cfg.model_dump(mode="json"),
            "stage": stage.model_dump(mode="json"),
            "model_dir": str(model_dir),
            "out_dir": str(out_dir),
            "resume_from": str(resume_from) if resume_from else None,
            "offsets": offsets,
            "num_rows": num_rows,
        },
        scaling_config=ScalingConfig(
            num_workers=cfg.num_workers,
            use_gpu=use_gpu_for(cfg),
            resources_per_worker={"CPU": cfg.cpus_per_worker},
        ),
        run_config=RunConfig(
            name=stage.name,
            storage_path=str((out_dir / "ray").resolve()),
            failure_config=FailureConfig(max_failures=cfg.max_failures),
            checkpoint_config=CheckpointConfig(num_to_keep=cfg.keep_checkpoints),
        ),
        datasets={"train": dataset},
        dataset_config=DataConfig(datasets_to_split=[]),
    )
    result = trainer.fit()
    if result.checkpoint is None:
        raise RuntimeError(
            f"stage {stage.name}: Ray Train finished without a checkpoint; see {out_dir / 'ray'}"
        )
    return RayStageResult(checkpoint_dir=Path(result.checkpoint.path), metrics=dict(result.metrics or {}))
