"""Training throughput and packing efficiency on a real build, on one device, without Ray.

GPU mode (default): Qwen2-shaped ~0.5B / ~1.5B models built from a config, bf16 autocast, packed
``--seq-len`` sequences; reports tokens/s, MFU against a measured bf16 matmul rate of this GPU, peak memory
and packing efficiency, with packing on and off.
CPU mode (``--cpu``): a tiny model and short sequences; reports packing efficiency per stage (the done
criterion: >= 0.95 non-padding tokens with packing) and a CPU tokens/s figure.

    python bench/train_throughput.py --build BUILD                 # GPU: 0.5b and 1.5b, packing on/off
    python bench/train_throughput.py --build BUILD --cpu --json    # CPU: packing efficiency, tiny model
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from curate.training.config import TrainConfig
from curate.training.data import (
    collate,
    packing_efficiency,
    prepare_stage_rows,
    read_records,
    shard_paths,
)

# Qwen2 shapes (as published for Qwen2-0.5B / Qwen2-1.5B); weights are random: throughput does not care.
SHAPES: dict[str, dict[str, Any]] = {
    "tiny": dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                 intermediate_size=128),
    "0.5b": dict(hidden_size=896, num_hidden_layers=24, num_attention_heads=14, num_key_value_heads=2,
                 intermediate_size=4864, vocab_size=151936, tie_word_embeddings=True),
    "1.5b": dict(hidden_size=1536, num_hidden_layers=28, num_attention_heads=12, num_key_value_heads=2,
                 intermediate_size=8960, vocab_size=151936, tie_word_embeddings=True),
}  # fmt: skip


def train_stages(build: Path) -> list[str]:
    """Stage folders of the build that have train shards (eval excluded)."""
    out = []
    for manifest in sorted(build.glob("*/manifest.json")):
        shards = json.loads(manifest.read_text())["shards"]
        if any(s.get("split") == "train" for s in shards):
            out.append(manifest.parent.name)
    return out


def measured_bf16_flops(device: Any) -> float:
    """Dense bf16 matmul rate of this GPU (FLOP/s), the MFU denominator."""
    import torch

    n = 8192
    a = torch.randn(n, n, device=device, dtype=torch.bfloat16)
    b = torch.randn(n, n, device=device, dtype=torch.bfloat16)
    for _ in range(3):
        a @ b
    torch.cuda.synchronize()
    reps = 20
    t = time.perf_counter()
    for _ in range(reps):
        a @ b
    torch.cuda.synchronize()
    return 2 * n**3 * reps / (time.perf_counter() - t)


def flops_per_token(model: Any, seq_len: int) -> float:
    """6 x parameters + causal attention (12 x layers x hidden x seq_len), the usual MFU accounting."""
    cfg = model.config
    params = sum(p.numel() for p in model.parameters())
    return 6 * params + 12 * cfg.num_hidden_layers * cfg.hidden_size * seq_len


def run_steps(
    shape: str, tokenizer: Any, rows: list, cfg: TrainConfig, steps: int, warmup: int, cpu: bool
) -> dict[str, Any]:
    """Time ``steps`` optimizer steps (after ``warmup``) with the single-process training path."""
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    from curate.training.attention import resolve_attention
    from curate.training.loop import TorchStepper

    device = torch.device("cpu" if cpu else "cuda")
    attn = resolve_attention(cfg.model.attn_implementation, device.type)
    arch = dict(SHAPES[shape])
    arch.setdefault("vocab_size", len(tokenizer))
    torch.manual_seed(0)
    model = Qwen2ForCausalLM(Qwen2Config(**arch, attn_implementation=attn))
    if cfg.model.gradient_checkpointing:
        model.gradient_checkpointing_enable()
    stepper = TorchStepper(model, cfg, lr=1e-5, total_steps=warmup + steps, bf16=not cpu)
    mb = cfg.micro_batch_size
    needed = (warmup + steps) * mb * cfg.grad_accum
    batches = [rows[(i * mb) % len(rows) : (i * mb) % len(rows) + mb] for i in range(needed)]
    batches = [b for b in batches if len(b) == mb] or [rows[:mb]]
    real = padded = 0
    if not cpu:
        torch.cuda.reset_peak_memory_stats()
    t0 = 0.0
    for i in range(needed):
        if i == warmup * cfg.grad_accum:
            if not cpu:
                torch.cuda.synchronize()
            t0 = time.perf_counter()
        rb = batches[i % len(batches)]
        batch = collate(rb, int(tokenizer.pad_token_id), cfg.packing, cfg.max_seq_len)
        loss = stepper.forward(batch)
        stepper.backward_and_step(loss)
        if i >= warmup * cfg.grad_accum:
            real += sum(len(r.input_ids) for r in rb)
            padded += batch["input_ids"].numel()
    if not cpu:
        torch.cuda.synchronize()
    elapsed = time.perf_counter() - t0
    out: dict[str, Any] = {
        "model": shape,
        "params_m": round(sum(p.numel() for p in model.parameters()) / 1e6, 1),
        "packing": cfg.packing,
        "seq_len": cfg.max_seq_len,
        "micro_batch": mb,
        "steps_timed": steps,
        "tokens_per_s": round(real / elapsed, 1),
        "padded_tokens_per_s": round(padded / elapsed, 1),
        "final_loss": round(float(loss.detach()), 4),
    }
    if cpu:
        out["peak_rss_gib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2)
    else:
        peak = measured_bf16_flops(device)
        out["peak_mem_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
        out["measured_bf16_tflops"] = round(peak / 1e12, 1)
        # model FLOPs count padded positions as wasted: MFU uses useful (non-padding) tokens only
        out["mfu"] = round(real / elapsed * flops_per_token(model, cfg.max_seq_len) / peak, 4)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--build", required=True, type=Path, help="a curate build directory")
    p.add_argument("--cpu", action="store_true", help="CPU mode: tiny model, packing efficiency")
    p.add_argument(
        "--models", default=None, help="comma list of shapes (default: 0.5b,1.5b; tiny with --cpu)"
    )
    p.add_argument("--seq-len", type=int, default=None, help="default 2048 (GPU), 512 (CPU)")
    p.add_argument("--micro-batch", type=int, default=None, help="default 4 (GPU), 2 (CPU)")
    p.add_argument("--steps", type=int, default=None, help="timed steps (default 20 GPU, 3 CPU)")
    p.add_argument("--warmup", type=int, default=None, help="untimed steps first (default 3 GPU, 1 CPU)")
    p.add_argument("--stage", default=None, help="stage to time (default: the last train stage)")
    p.add_argument("--vocab-size", type=int, default=4000, help="size of the tokenizer trained in-process")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    args = p.parse_args(argv)

    import torch

    from curate.training.model import train_tokenizer

    if not args.cpu and not torch.cuda.is_available():
        print("no GPU found: run with --cpu for the packing-efficiency report", file=sys.stderr)
        return 2
    seq_len = args.seq_len or (512 if args.cpu else 2048)
    micro = args.micro_batch or (2 if args.cpu else 4)
    steps = args.steps if args.steps is not None else (3 if args.cpu else 20)
    warmup = args.warmup if args.warmup is not None else (1 if args.cpu else 3)
    models = (args.models or ("tiny" if args.cpu else "0.5b,1.5b")).split(",")
    stages = train_stages(args.build)
    if not stages:
        print(f"{args.build} has no stage with train shards", file=sys.stderr)
        return 2

    texts = (
        m["content"] for s in stages for r in read_records(shard_paths(args.build, s)) for m in r["messages"]
    )
    tokenizer = train_tokenizer(texts, args.vocab_size)

    report: dict[str, Any] = {
        "build": str(args.build),
        "device": "cpu" if args.cpu else torch.cuda.get_device_name(),
    }
    report["packing_efficiency"] = {}
    rows_by: dict[tuple[str, bool], list] = {}
    for stage in stages:
        for packing in (True, False):
            rows, _ = prepare_stage_rows(tokenizer, args.build, stage, seq_len, packing)
            rows_by[(stage, packing)] = rows
            key = f"{stage}/{'packed' if packing else 'padded'}"
            report["packing_efficiency"][key] = round(packing_efficiency(rows, micro, packing, seq_len), 4)
    packed = [v for k, v in report["packing_efficiency"].items() if k.endswith("/packed")]
    report["min_packed_efficiency"] = min(packed)

    timed_stage = args.stage or stages[-1]
    report["runs"] = []
    for shape in models:
        for packing in (True, False):
            cfg = TrainConfig.model_validate(
                {
                    "model": {"architecture": SHAPES[shape], "gradient_checkpointing": not args.cpu},
                    "max_seq_len": seq_len,
                    "packing": packing,
                    "micro_batch_size": micro,
                    "grad_accum": 1,
                }
            )
            rows = rows_by[(timed_stage, packing)]
            report["runs"].append(run_steps(shape, tokenizer, rows, cfg, steps, warmup, args.cpu))
            if not args.cpu:
                torch.cuda.empty_cache()
    if args.json:
        print(json.dumps(report))
    else:
        print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
