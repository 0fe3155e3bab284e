"""The training loop of one stage, independent of how it is launched.

Ray workers (``ray_train.py``) and a plain single process (the benchmark, a one-GPU run) call the same
``train_stage``; what differs is passed in a ``RunContext``: rank, world size, how to report a checkpoint, and
where to resume from. Inside a process group the optimizer step runs on a DeepSpeed engine (ZeRO-2/3); in a
plain single process it is ordinary torch AdamW with gradient accumulation.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from curate.training.config import StageConfig, TrainConfig, resolve_bf16, to_deepspeed_config
from curate.training.data import PackedRow, collate, epoch_order, rank_micro_batches, steps_per_epoch
from curate.training.model import apply_lora, load_model, load_tokenizer, state_checksum

TRAINER_STATE = "trainer_state.json"
CKPT_TAG = "ckpt"


class InjectedFailure(RuntimeError):
    """Raised once at ``fail_at_step`` to exercise resume from the last checkpoint (tests only)."""


@dataclass
class RunContext:
    """Where the loop runs. ``report(metrics, checkpoint_dir_or_None)`` persists a checkpoint and metrics."""

    rank: int = 0
    world_size: int = 1
    report: Callable[[dict[str, Any], Path | None], None] | None = None
    resume_dir: Path | None = None
    scratch_dir: Path | None = None


@dataclass
class StageOutcome:
    global_step: int
    losses: list[float] = field(default_factory=list)
    final_checksum: str | None = None
    tokens_seen: int = 0
    module: Any = None  # the trained module (the single-process caller saves it as HF weights)


def lr_lambda(kind: str, warmup_steps: int, total_steps: int) -> Callable[[int], float]:
    """The LR multiplier at optimizer step ``s`` (0-based) for the configured schedule."""

    def f(s: int) -> float:
        if warmup_steps > 0 and s < warmup_steps:
            return (s + 1) / warmup_steps
        if kind == "constant_with_warmup":
            return 1.0
        progress = (s - warmup_steps) / max(1, total_steps - warmup_steps)
        if kind == "linear":
            return max(0.0, 1.0 - progress)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

    return f


class TorchStepper:
    """Plain torch: AdamW, gradient accumulation, clipping, optional bf16 autocast (single process)."""

    def __init__(self, model: Any, cfg: TrainConfig, lr: float, total_steps: int, bf16: bool) -> None:
        import torch

        self.model = model
        self.cfg = cfg
        self.device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        self.model.to(self.device)
        params = [p for p in model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=cfg.weight_decay)
        warmup = math.ceil(cfg.warmup_ratio * total_steps)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lr_lambda(cfg.scheduler, warmup, total_steps)
        )
        self.bf16 = bf16
        self.micro = 0

    @property
    def module(self) -> Any:
        return self.model

    def forward(self, batch: dict[str, Any]) -> Any:
        import torch

        batch = {k: v.to(self.device) for k, v in batch.items()}
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16):
            return self.model(**batch, use_cache=False).loss

    def backward_and_step(self, loss: Any) -> None:
        import torch

        (loss / self.cfg.grad_accum).backward()
        self.micro += 1
        if self.micro % self.cfg.grad_accum == 0:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.max_grad_norm)
            self.optimizer.step()
            self.scheduler.step()
            self.optimizer.zero_grad(set_to_none=True)

    def lr(self) -> float:
        return float(self.scheduler.get_last_lr()[0])

    def save(self, directory: Path, client_state: dict[str, Any]) -> None:
        import torch

        directory.mkdir(parents=True, exist_ok=True)
        torch.save(
            {
                "model": self.model.state_dict(),
                "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(),
                "client_state": client_state,
            },
            directory / "torch_state.pt",
        )

    def load(self, directory: Path) -> dict[str, Any]:
        import torch

        state = torch.load(directory / "torch_state.pt", map_location=self.device, weights_only=False)
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        return dict(state["client_state"])


class DeepSpeedStepper:
    """A DeepSpeed engine (ZeRO-2/3) over the process group Ray (or a launcher) created."""

    def __init__(
        self, model: Any, cfg: TrainConfig, lr: float, total_steps: int, bf16: bool, world: int
    ) -> None:
        import deepspeed
        import torch

        ds_config = to_deepspeed_config(cfg, world_size=world, bf16=bf16, lr=lr)
        params = [p for p in model.parameters() if p.requires_grad]
        warmup = math.ceil(cfg.warmup_ratio * total_steps)

        def make_scheduler(optimizer: Any) -> Any:
            return torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda(cfg.scheduler, warmup, total_steps))

        # A client torch AdamW avoids compiling DeepSpeed's CPU Adam; with offload DeepSpeed's own is named.
        optimizer = (
            None if cfg.cpu_offload else torch.optim.AdamW(params, lr=lr, weight_decay=cfg.weight_decay)
        )
        self.engine, _, _, _ = deepspeed.initialize(
            model=model,
            model_parameters=params,
            optimizer=optimizer,
            lr_scheduler=make_scheduler,
            config=ds_config,
        )

    @property
    def module(self) -> Any:
        return self.engine.module

    def forward(self, batch: dict[str, Any]) -> Any:
        batch = {k: v.to(self.engine.device) for k, v in batch.items()}
        return self.engine(**batch, use_cache=False).loss

    def backward_and_step(self, loss: Any) -> None:
        self.engine.backward(loss)
        self.engine.step()  # DeepSpeed applies the optimizer only at accumulation boundaries

    def lr(self) -> float:
        return float(self.engine.get_lr()[0])

    def save(self, directory: Path, client_state: dict[str, Any]) -> None:
        self.engine.save_checkpoint(str(directory), tag=CKPT_TAG, client_state=client_state)

    def load(self, directory: Path) -> dict[str, Any]:
        path, client_state = self.engine.load_checkpoint(str(directory), tag=CKPT_TAG)
        if path is None:
            raise FileNotFoundError(f"no DeepSpeed checkpoint with tag {CKPT_TAG!r} under {directory}")
        return dict(client_state or {})


def _distributed() -> bool:
    import torch.distributed as dist

    return dist.is_available() and dist.is_initialized()


def _mean_across_ranks(value: float) -> float:
    if not _distributed():
        return value
    import torch
    import torch.distributed as dist

    t = torch.tensor([value], dtype=torch.float64)
    dist.all_reduce(t)
    return float(t.item()) / dist.get_world_size()


def _module_checksum(stepper: Any, cfg: TrainConfig) -> str | None:
    """Checksum of the full weights on this rank; None where ZeRO-3 partitions them."""
    if cfg.zero_stage == 3 and isinstance(stepper, DeepSpeedStepper):
        return None
    module = stepper.module
    if cfg.lora.enabled:
        return None  # adapters change the parameter names; stages compare merged HF weights instead
    return state_checksum(module.state_dict())


def train_stage(
    cfg: TrainConfig,
    stage: StageConfig,
    model_dir: Path,
    rows: Sequence[PackedRow],
    out_dir: Path,
    ctx: RunContext,
) -> StageOutcome:
    """Train one stage on ``rows`` starting from the HF weights in ``model_dir`` (or ``ctx.resume_dir``).

    Writes (rank 0) ``out_dir/metrics.jsonl`` (one line per optimizer step; a resumed run rewrites the steps
    after its checkpoint, readers keep the last line per step) and ``start_weights.json``.
    """
    import torch

    torch.manual_seed(cfg.seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    tokenizer = load_tokenizer(model_dir)
    model = load_model(model_dir, cfg.model.attn_implementation)
    if cfg.model.gradient_checkpointing:
        model.gradient_checkpointing_enable()
        model.config.use_cache = False
    start_checksum = state_checksum(model.state_dict()) if ctx.rank == 0 else None
    model = apply_lora(model, cfg.lora)

    spe = steps_per_epoch(len(rows), cfg.micro_batch_size, cfg.grad_accum, ctx.world_size)
    if spe == 0:
        raise ValueError(
            f"stage {stage.name}: {len(rows)} training rows are fewer than one global batch of "
            f"{cfg.micro_batch_size * cfg.grad_accum * ctx.world_size} (micro_batch_size x grad_accum x "
            "num_workers); lower one of them or max_seq_len, or add data"
        )
    total = spe * stage.epochs
    bf16 = resolve_bf16(cfg)
    stepper: Any = (
        DeepSpeedStepper(model, cfg, stage.lr, total, bf16, ctx.world_size)
        if _distributed()
        else TorchStepper(model, cfg, stage.lr, total, bf16)
    )

    global_step = 0
    if ctx.resume_dir is not None:
        global_step = int(stepper.load(ctx.resume_dir).get("global_step", 0))
    elif ctx.rank == 0:
        (out_dir / "start_weights.json").write_text(
            json.dumps({"stage": stage.name, "model_dir": str(model_dir), "checksum": start_checksum}) + "\n"
        )

    metrics_path = out_dir / "metrics.jsonl"
    outcome = StageOutcome(global_step=global_step)
    pad_id = int(tokenizer.pad_token_id)
    fail_marker = out_dir / f".failure_injected_rank{ctx.rank}"

    def checkpoint(final: bool) -> None:
        state = {"global_step": global_step, "stage": stage.name, "steps_per_epoch": spe, "final": final}
        metrics: dict[str, Any] = {"stage": stage.name, "global_step": global_step, "final": final}
        if outcome.losses:
            metrics["loss"] = outcome.losses[-1]
        if final:  # hashing every weight is not free: rank 0 reports it, the others need not compute it
            metrics["checksum"] = _module_checksum(stepper, cfg) if ctx.rank == 0 else None
            outcome.final_checksum = metrics["checksum"]
        if ctx.report is None:
            return
        base = ctx.scratch_dir or out_dir / "checkpoints"
        directory = Path(base) / f"step-{global_step:08d}-rank{ctx.rank}"
        stepper.save(directory, state)
        if ctx.rank == 0:
            (directory / TRAINER_STATE).write_text(json.dumps(state) + "\n")
        ctx.report(metrics, directory)

    while global_step < total:
        epoch, step_in_epoch = divmod(global_step, spe)
        order = epoch_order(len(rows), cfg.seed, epoch)
        keep_only = getattr(rows, "keep_only", None)  # rows streamed from Ray Data: hold this rank's only
        if keep_only is not None:
            keep_only(
                i
                for step in range(step_in_epoch, spe)
                for idx in rank_micro_batches(
                    order, step, ctx.rank, ctx.world_size, cfg.micro_batch_size, cfg.grad_accum
                )
                for i in idx
            )
        for step in range(step_in_epoch, spe):
            micro_losses = []
            for idx in rank_micro_batches(
                order, step, ctx.rank, ctx.world_size, cfg.micro_batch_size, cfg.grad_accum
            ):
                batch_rows = [rows[i] for i in idx]
                batch = collate(batch_rows, pad_id, cfg.packing, cfg.max_seq_len)
                outcome.tokens_seen += sum(len(r.input_ids) for r in batch_rows)
                loss = stepper.forward(batch)
                stepper.backward_and_step(loss)
                micro_losses.append(float(loss.detach()))
            global_step += 1
            loss_value = _mean_across_ranks(sum(micro_losses) / len(micro_losses))
            outcome.losses.append(loss_value)
            if ctx.rank == 0:
                with metrics_path.open("a", encoding="utf-8") as fh:
                    line = {"step": global_step, "epoch": epoch, "loss": loss_value, "lr": stepper.lr()}
                    fh.write(json.dumps(line) + "\n")
            if global_step == cfg.fail_at_step and not fail_marker.exists():
                fail_marker.write_text("injected\n")
                raise InjectedFailure(
                    f"injected failure at step {global_step} (fail_at_step) on rank {ctx.rank}"
                )
            if global_step < total and global_step % cfg.checkpoint_every_steps == 0:
                checkpoint(final=False)
    checkpoint(final=True)
    outcome.global_step = global_step
    outcome.module = stepper.module  # the single-process caller saves HF weights from it directly
    return outcome


def read_losses(metrics_path: Path) -> dict[int, float]:
    """Loss per optimizer step from ``metrics.jsonl``, the last line winning for a step rerun after resume."""
    losses: dict[int, float] = {}
    if metrics_path.is_file():
        for line in metrics_path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                rec = json.loads(line)
                losses[int(rec["step"])] = float(rec["loss"])
    return dict(sorted(losses.items()))
