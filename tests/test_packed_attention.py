"""Packed rows never let an example attend to another, for every attention implementation this machine has.

Each check runs a tiny random Qwen2 on CPU (fp32): a packed row of four examples whose ``position_ids``
restart at 0 gives the logits of separate forwards, changing the tokens of the first example leaves the logits
of the others bit-for-bit unchanged, and the same row without position resets (the control) does leak.
"""

from __future__ import annotations

import logging
import os

import pytest

os.environ.setdefault("OMP_NUM_THREADS", "1")

from curate.training.attention import installed_implementations

CPU_IMPLEMENTATIONS = installed_implementations("cpu")


def _marks(implementation: str) -> list[pytest.MarkDecorator]:
    # flex attention compiles its kernel with inductor on first use: about 1.5 min on a busy 2-core machine
    return [pytest.mark.slow] if implementation == "flex_attention" else []


@pytest.mark.timeout(400)
@pytest.mark.parametrize("implementation", [pytest.param(i, marks=_marks(i)) for i in CPU_IMPLEMENTATIONS])
def test_no_packed_example_attends_to_another(implementation: str) -> None:
    from curate.training.attention import packed_attention_check

    check = packed_attention_check(implementation, "cpu")
    assert check.max_diff_vs_separate < 1e-4, check
    assert check.max_diff_other_examples == 0.0, check  # nothing of example 1 reaches examples 2..4
    assert check.control_leak > 1e-2, check  # without resets the examples do see each other
    assert check.passed


def test_the_machine_has_at_least_eager_and_sdpa() -> None:
    assert {"eager", "sdpa"} <= set(CPU_IMPLEMENTATIONS)
    assert "flash_attention_2" not in CPU_IMPLEMENTATIONS  # a CUDA-only kernel is never offered on CPU


@pytest.mark.timeout(120)
def test_auto_resolves_to_sdpa_on_cpu_and_explicit_choices_pass_through() -> None:
    from curate.training.attention import resolve_attention

    assert resolve_attention("auto", "cpu") == "sdpa"
    assert resolve_attention("eager", "cpu") == "eager"
    assert resolve_attention("flash_attention_2", "cuda") == "flash_attention_2"


@pytest.mark.timeout(120)
def test_the_fastest_runnable_implementation_is_picked_and_the_log_says_which(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from curate.training.attention import pick_fastest

    # flash_attention_2 cannot run on a CPU (no flash_attn): it is skipped with its reason, sdpa beats eager
    with caplog.at_level(logging.INFO, logger="curate.training.attention"):
        chosen = pick_fastest("cpu", ["eager", "sdpa", "flash_attention_2"])
    assert chosen == "sdpa"
    line = caplog.records[-1].getMessage()
    assert line.startswith("attention: sdpa on cpu") and "flash_attention_2 (" in line
    with pytest.raises(RuntimeError, match="no attention implementation keeps packed examples apart"):
        pick_fastest("cpu", ["flash_attention_2"])
