"""Which attention implementation keeps packed examples apart, and which one to run.

A packed row carries ``position_ids`` that restart at 0 per example and no attention mask; each attention
implementation of transformers must turn the resets into a block-diagonal causal mask (eager, sdpa, flex) or
variable-length boundaries (flash-attention). ``packed_attention_check`` proves it on a tiny random Qwen2 on
the given device: the packed forward equals separate forwards of each example, and changing the tokens of
one example leaves the logits of the others unchanged. ``resolve_attention("auto")`` picks sdpa on CPU and,
on a GPU, the fastest installed implementation that passes the check, with one log line saying which.
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

log = logging.getLogger(__name__)

# fastest first on a GPU (varlen flash kernels need no dense mask; sdpa gets a dense mask per batch)
GPU_PREFERENCE = ("flash_attention_2", "flex_attention", "sdpa", "eager")
CPU_DEFAULT = "sdpa"


@dataclass(frozen=True)
class PackedCheck:
    """Result of ``packed_attention_check`` for one implementation on one device."""

    implementation: str
    device: str
    max_diff_vs_separate: float  # packed logits vs each example alone
    max_diff_other_examples: float  # logits of the other examples when one example's tokens change
    control_leak: float  # the same rows without position resets (must be large: examples see each other)
    tolerance: float

    @property
    def passed(self) -> bool:
        return (
            self.max_diff_vs_separate <= self.tolerance
            and self.max_diff_other_examples <= self.tolerance
            and self.control_leak > 10 * self.tolerance
        )


def installed_implementations(device: str) -> list[str]:
    """Attention implementations this machine can run on ``device`` ("cpu" or "cuda")."""
    found = ["eager", "sdpa"]
    try:
        from torch.nn.attention.flex_attention import flex_attention  # noqa: F401

        found.append("flex_attention")
    except ImportError:
        pass
    if device.startswith("cuda") and importlib.util.find_spec("flash_attn") is not None:
        found.append("flash_attention_2")
    return found


def tiny_model(implementation: str, device: str = "cpu", dtype: Any = None, vocab_size: int = 512) -> Any:
    """A seeded two-layer Qwen2 from a config (no download), in eval mode: what the packed-attention check runs."""
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(0)
    cfg = Qwen2Config(
        hidden_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        intermediate_size=128,
        vocab_size=vocab_size,
        attn_implementation=implementation,
    )
    return Qwen2ForCausalLM(cfg).to(device=device, dtype=dtype).eval()


def packed_attention_check(
    implementation: str, device: str = "cpu", lengths: tuple[int, ...] = (37, 5, 61, 20)
) -> PackedCheck:
    """Run the packed-vs-separate check for ``implementation`` on ``device`` (fp32 on CPU, bf16 on GPU)."""
    import torch

    dtype = torch.float32 if device == "cpu" else torch.bfloat16
    tolerance = 1e-4 if dtype == torch.float32 else 2e-2
    model = tiny_model(implementation, device, dtype)
    gen = torch.Generator().manual_seed(1)
    examples = [torch.randint(3, 512, (n,), generator=gen) for n in lengths]
    ids = torch.cat(examples)[None].to(device)
    pos = torch.cat([torch.arange(n) for n in lengths])[None].to(device)
    changed = ids.clone()
    changed[0, : lengths[0]] = torch.randint(3, 512, (lengths[0],), generator=gen).to(device)
    with torch.no_grad():
        packed = model(input_ids=ids, position_ids=pos, use_cache=False).logits[0].float()
        packed_changed = model(input_ids=changed, position_ids=pos, use_cache=False).logits[0].float()
        leaky = model(input_ids=ids, use_cache=False).logits[0].float()
        vs_separate, leak, offset = 0.0, 0.0, 0
        for ex in examples:
            alone = model(input_ids=ex[None].to(device), use_cache=False).logits[0].float()
            part = slice(offset, offset + len(ex))
            vs_separate = max(vs_separate, (alone - packed[part]).abs().max().item())
            leak = max(leak, (alone - leaky[part]).abs().max().item())
            offset += len(ex)
        others = (packed[lengths[0] :] - packed_changed[lengths[0] :]).abs().max().item()
    return PackedCheck(implementation, device, vs_separate, others, leak, tolerance)


def pick_fastest(device: str, candidates: Sequence[str]) -> str:
    """The first of ``GPU_PREFERENCE`` among ``candidates`` that passes ``packed_attention_check`` on
    ``device``; one that raises (not runnable here) or fails is skipped, and the log line says why."""
    skipped = []
    for implementation in (i for i in GPU_PREFERENCE if i in candidates):
        try:
            check = packed_attention_check(implementation, device)
        except Exception as exc:  # e.g. flash_attention_2 without a usable flash_attn build
            skipped.append(f"{implementation} ({type(exc).__name__}: {str(exc)[:200]})")
            continue
        if check.passed:
            log.info(
                "attention: %s on %s, the fastest that keeps packed examples apart (max diff %.1e vs separate "
                "forwards, %.1e on other examples); skipped: %s",
                implementation, device, check.max_diff_vs_separate, check.max_diff_other_examples,
                "; ".join(skipped) or "none",
            )  # fmt: skip
            return implementation
        skipped.append(f"{implementation} (packed check failed: {check})")
    raise RuntimeError(
        f"no attention implementation keeps packed examples apart on {device}: {'; '.join(skipped)}; "
        "set model.attn_implementation explicitly or turn packing off"
    )


@cache
def resolve_attention(requested: str, device: str) -> str:
    """The implementation to load: ``requested`` unless it is "auto" (sdpa on CPU; on a GPU the fastest
    installed one that passes ``packed_attention_check``, checked once per process)."""
    if requested != "auto":
        return requested
    if not device.startswith("cuda"):
        return CPU_DEFAULT
    return pick_fastest(device, installed_implementations(device))


def current_device() -> str:
    """``cuda`` when this process sees a GPU, else ``cpu``."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"
