"""The typed training configuration: YAML file + dotted command-line overrides -> ``TrainConfig``.

The DeepSpeed config is generated from it (``to_deepspeed_config``), never hand-edited, so a batch size or a
ZeRO stage lives in exactly one place. Defaults follow Taiyi's recipe (stage 1: 5 epochs, stage 2: 3 epochs).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator


class ConfigError(ValueError):
    """A user error in a training config: the message names the file, the key and the fix."""


class ModelConfig(BaseModel):
    """Where the model and tokenizer come from: a local Hugging Face directory, or a config to build from."""

    model_config = ConfigDict(extra="forbid")

    path: str | None = Field(None, description="local Hugging Face model directory (no hub access)")
    architecture: dict[str, Any] | None = Field(
        None, description="Qwen2Config keyword arguments to build a randomly initialised model (tests, bench)"
    )
    tokenizer_path: str | None = Field(None, description="local tokenizer directory; defaults to `path`")
    tokenizer_vocab_size: int = Field(
        2000, description="vocab size of the byte-level BPE trained in-process when no tokenizer dir is given"
    )
    attn_implementation: Literal["auto", "sdpa", "eager", "flash_attention_2", "flex_attention"] = Field(
        "auto",
        description="auto: sdpa on CPU; on a GPU the fastest installed implementation that passes the packed "
        "attention check (curate/training/attention.py)",
    )
    gradient_checkpointing: bool = False

    @model_validator(mode="after")
    def _one_source(self) -> ModelConfig:
        if (self.path is None) == (self.architecture is None):
            raise ValueError("set exactly one of model.path (a local HF directory) or model.architecture")
        return self


class LoRAConfig(BaseModel):
    """Optional LoRA adapters via peft (Taiyi used QLoRA r=64, alpha=16 on all linear layers)."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = False
    r: int = 64
    alpha: int = 16
    dropout: float = 0.05
    target_modules: list[str] | Literal["all-linear"] = "all-linear"


class StageConfig(BaseModel):
    """One training stage: which build stage folder it reads, for how long, and where its weights start."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="output folder name, e.g. stage1")
    data: str = Field(description="build stage folder to read, BUILD/<data>/manifest.json")
    epochs: int = Field(ge=1)
    lr: float = Field(2e-4, gt=0)
    init_from: str = Field(
        "previous",
        description="'previous' (the previous stage's HF weights, or the base model for the first stage), "
        "'base' (the base model), or a path to a HF model directory",
    )


def _taiyi_stages() -> list[StageConfig]:
    return [
        StageConfig(name="stage1", data="stage1", epochs=5, lr=2e-4),
        StageConfig(name="stage2", data="stage2", epochs=3, lr=2e-4),
    ]


class TrainConfig(BaseModel):
    """Everything a training run needs besides the build directory and the output directory."""

    model_config = ConfigDict(extra="forbid")

    model: ModelConfig
    lora: LoRAConfig = LoRAConfig()
    stages: list[StageConfig] = Field(default_factory=_taiyi_stages, min_length=1)

    max_seq_len: int = Field(1024, ge=16)
    packing: bool = True
    micro_batch_size: int = Field(2, ge=1, description="sequences per worker per forward pass")
    grad_accum: int = Field(1, ge=1)
    weight_decay: float = 0.0
    max_grad_norm: float = 0.3
    warmup_ratio: float = Field(0.1, ge=0, lt=1)
    scheduler: Literal["constant_with_warmup", "cosine", "linear"] = "constant_with_warmup"
    seed: int = 0

    zero_stage: Literal[2, 3] = 2
    bf16: bool | Literal["auto"] = Field("auto", description="auto: on only where the GPU supports bf16")
    cpu_offload: bool = False

    num_workers: int = Field(2, ge=1)
    use_gpu: bool | Literal["auto"] = "auto"
    cpus_per_worker: float = Field(1.0, gt=0)
    prepare_workers: int = Field(2, ge=1, description="Ray Data actors that tokenize and pack (with Ray)")
    prepare_cpus_per_worker: float = Field(1.0, gt=0, description="CPUs each preparation actor reserves")
    pack_window_records: int = Field(
        16_384,
        ge=1,
        description="records packed together (consecutive in manifest order); a stage this size or smaller "
        "packs exactly as one in-memory pass",
    )
    checkpoint_every_steps: int = Field(50, ge=1, description="DeepSpeed checkpoint + Ray report interval")
    keep_checkpoints: int = Field(2, ge=1)
    max_failures: int = Field(1, ge=0, description="worker-group restarts from the last checkpoint per stage")

    fail_at_step: int | None = Field(
        None, description="testing only: raise once at this optimizer step of each stage to exercise resume"
    )

    generation_max_new_tokens: int = 256
    generation_batch_size: int = 8

    @model_validator(mode="after")
    def _unique_stage_names(self) -> TrainConfig:
        names = [s.name for s in self.stages]
        if len(set(names)) != len(names):
            raise ValueError(f"stage names must be unique, got {names}")
        return self

    def stage(self, key: str) -> StageConfig:
        """A stage by name (``stage2``) or 1-based index (``2``)."""
        for i, s in enumerate(self.stages, start=1):
            if key in (s.name, str(i)):
                return s
        raise ConfigError(f"no stage {key!r}; the config has {[s.name for s in self.stages]} (or 1..{i})")


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``a.b.c=value`` overrides (value parsed as YAML; list items addressed by index)."""
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override {item!r} must look like key.sub=value")
        dotted, raw = item.split("=", 1)
        keys = dotted.strip().split(".")
        node: Any = data
        for k in keys[:-1]:
            node = node[int(k)] if isinstance(node, list) else node.setdefault(k, {})
        last = keys[-1]
        value = yaml.safe_load(raw)
        if isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value
    return data


def _read_yaml(path: Path) -> Any:
    """Parse a config file; bad YAML (syntax, a Python tag, not UTF-8) names the file, the line and the fix."""
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start}); save the config as UTF-8") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else "(file)"
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{path}: {where}: not valid YAML: {problem}; fix the YAML there (plain values only: "
                          "tags such as !!python/object are not allowed)") from None


def load_config(path: str | Path | None, overrides: list[str] | None = None) -> TrainConfig:
    """Read a YAML config (or start empty), apply overrides, validate; errors name the file and key."""
    data: dict[str, Any] = {}
    where = "the command line"
    if path is not None:
        p = Path(path)
        where = str(p)
        if not p.is_file():
            raise ConfigError(f"config file {p} not found; pass --config PATH to an existing YAML file")
        loaded = _read_yaml(p) or {}
        if not isinstance(loaded, dict):
            raise ConfigError(f"{p}: the top level must be a mapping of keys, got {type(loaded).__name__}")
        data = loaded
    if "stages" not in data and any(o.startswith("stages.") for o in overrides or []):
        data["stages"] = [s.model_dump() for s in _taiyi_stages()]
    try:
        data = apply_overrides(data, list(overrides or []))
        return TrainConfig.model_validate(data)
    except (ValidationError, IndexError, ValueError) as exc:
        if isinstance(exc, ValidationError):
            lines = [f"  {'.'.join(str(x) for x in e['loc'])}: {e['msg']}" for e in exc.errors()]
            raise ConfigError(f"invalid training config in {where}:\n" + "\n".join(lines)) from None
        raise ConfigError(f"invalid training config in {where}: {exc}") from None


def resolve_bf16(cfg: TrainConfig) -> bool:
    """bf16 when asked for, or with ``auto`` only on a GPU that supports it (CPU runs stay fp32)."""
    if cfg.bf16 != "auto":
        return bool(cfg.bf16)
    import torch

    return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())


def to_deepspeed_config(cfg: TrainConfig, world_size: int, bf16: bool, lr: float) -> dict[str, Any]:
    """The DeepSpeed config dict for this run. Batch sizes are consistent by construction.

    Without CPU offload the optimizer is a client torch AdamW (no compiled CPU Adam needed); with offload
    DeepSpeed's own AdamW is named here, since ZeRO-Offload needs DeepSpeed's CPU optimizer.
    """
    zero: dict[str, Any] = {
        "stage": cfg.zero_stage,
        "overlap_comm": False,
        "contiguous_gradients": True,
        "reduce_scatter": True,
    }
    if cfg.cpu_offload:
        zero["offload_optimizer"] = {"device": "cpu", "pin_memory": True}
        if cfg.zero_stage == 3:
            zero["offload_param"] = {"device": "cpu", "pin_memory": True}
    if cfg.zero_stage == 3:
        zero["stage3_gather_16bit_weights_on_model_save"] = True
    ds: dict[str, Any] = {
        "train_micro_batch_size_per_gpu": cfg.micro_batch_size,
        "gradient_accumulation_steps": cfg.grad_accum,
        "train_batch_size": cfg.micro_batch_size * cfg.grad_accum * world_size,
        "gradient_clipping": cfg.max_grad_norm,
        "zero_optimization": zero,
        "bf16": {"enabled": bf16},
        "fp16": {"enabled": False},
        "steps_per_print": 10**9,
        "wall_clock_breakdown": False,
        "zero_allow_untested_optimizer": True,
    }
    if cfg.cpu_offload:
        ds["optimizer"] = {
            "type": "AdamW",
            "params": {"lr": lr, "betas": [0.9, 0.999], "eps": 1e-8, "weight_decay": cfg.weight_decay},
        }
    return ds
