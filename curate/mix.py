"""Mixing: how many examples each dataset × task contributes to a stage. Pure functions.

Rates follow seqio/Flan: ``min(n, cap) ** (1 / temperature)``. Target shares per task and per
language rebalance the groups; within a group datasets keep their rates. Quotas never exceed what a
dataset has unless upsampling is on, and rounding is exact (largest remainder), so the same counts
always give the same mixture.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass

from curate.catalog import Mixing

MixKey = tuple[str, str, str]  # (dataset, task, language)


@dataclass(frozen=True)
class Quota:
    available: int
    capped: int
    quota: int

    @property
    def sampled_out(self) -> int:
        return max(0, self.available - self.quota)

    @property
    def upsampled(self) -> int:
        return max(0, self.quota - self.available)


def rate(n: int, cap: int, temperature: float) -> float:
    return min(n, cap) ** (1.0 / temperature) if n > 0 else 0.0


def _shares(masses: dict[str, float], targets: dict[str, float]) -> dict[str, float]:
    """Shares of each key: targets where given, the rest split by natural mass over what is left."""
    present = {k: m for k, m in masses.items() if m > 0}
    given = {k: targets[k] for k in present if k in targets}
    if not given:
        total = sum(present.values())
        return {k: m / total for k, m in present.items()} if total else {}
    left = max(0.0, 1.0 - sum(given.values()))
    rest = {k: m for k, m in present.items() if k not in given}
    rest_total = sum(rest.values())
    shares = dict(given)
    for k, m in rest.items():
        shares[k] = left * m / rest_total if rest_total else 0.0
    norm = sum(shares.values())
    return {k: v / norm for k, v in shares.items()} if norm else {}


def largest_remainder(targets: dict[MixKey, float], total: int) -> dict[MixKey, int]:
    floors = {k: math.floor(v) for k, v in targets.items()}
    missing = total - sum(floors.values())
    order = sorted(targets, key=lambda k: (-(targets[k] - floors[k]), k))
    for k in order[: max(0, missing)]:
        floors[k] += 1
    return floors


def mixture(available: dict[MixKey, int], mixing: Mixing, caps: dict[str, int] | None = None) -> dict[MixKey, Quota]:
    """Quota per (dataset, task, language) from available example counts and the stage's mixing."""
    caps = caps or {}
    capped = {k: min(n, caps.get(k[0], mixing.cap)) for k, n in available.items()}
    rates = {k: rate(n, caps.get(k[0], mixing.cap), mixing.temperature) for k, n in available.items()}
    total = sum(capped.values())
    if total == 0:
        return {k: Quota(n, capped[k], 0) for k, n in available.items()}
    task_mass: dict[str, float] = defaultdict(float)
    lang_mass: dict[str, float] = defaultdict(float)
    for (_, task, lang), r in rates.items():
        task_mass[task] += r
        lang_mass[lang] += r
    task_share = _shares(task_mass, dict(mixing.task_shares))
    lang_share = _shares(lang_mass, dict(mixing.language_shares))
    # share of a (task, language) group = task share × language share, renormalised over groups present
    group_rate: dict[tuple[str, str], float] = defaultdict(float)
    for (_, task, lang), r in rates.items():
        group_rate[(task, lang)] += r
    if mixing.task_shares or mixing.language_shares:
        raw = {g: task_share.get(g[0], 0.0) * lang_share.get(g[1], 0.0) for g, r in group_rate.items() if r > 0}
    else:
        raw = {g: r for g, r in group_rate.items() if r > 0}
    norm = sum(raw.values()) or 1.0
    targets: dict[MixKey, float] = {}
    for key, r in rates.items():
        group = (key[1], key[2])
        if r <= 0 or group not in raw:
            targets[key] = 0.0
            continue
        targets[key] = total * (raw[group] / norm) * (r / group_rate[group])
    limit = {k: (caps.get(k[0], mixing.cap) if mixing.upsample and available[k] > 0 else capped[k]) for k in available}
    bounded = {k: min(v, limit[k]) for k, v in targets.items()}
    quotas = largest_remainder(bounded, min(total, round(sum(bounded.values()))))
    return {k: Quota(available[k], capped[k], min(quotas[k], limit[k])) for k in available}
