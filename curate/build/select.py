"""Select: how many examples each dataset × task contributes to a stage, and which ones.

Runs on the driver between phase 1 and phase 2, from counts and selection ranks only. Quotas
(pure functions below) become seeded rank thresholds (``Selection``), one ``RenderUnit`` per example
file and output; every unit then decides alone, so the result does not depend on workers.


Rates follow seqio/Flan: ``min(n, cap) ** (1 / temperature)``. Target shares per task and per
language rebalance the groups; within a group datasets keep their rates. Quotas never exceed what a
dataset has unless upsampling is on, and rounding is exact (largest remainder), so the same counts
always give the same mixture.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from curate.build.plan import EVAL_OUTPUT, EarlyRender, file_size
from curate.build.ranks import StoredRanks, file_ranks
from curate.build.summaries import ExtractSummary
from curate.catalog import Catalog, DatasetEntry, Mixing, Stage
from curate.tasks.base import stable_hash

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


def fit_marginals(mass: dict[tuple[str, str], float], task_target: dict[str, float],
                  lang_target: dict[str, float], rounds: int = 200) -> dict[tuple[str, str], float]:
    """Iterative proportional fitting: reweight the task × language groups so that the task and the
    language totals match their targets, keeping the groups' relative sizes as far as possible."""
    weights = {g: m for g, m in mass.items() if m > 0}
    for _ in range(rounds):
        for index, target in ((0, task_target), (1, lang_target)):
            totals: dict[str, float] = defaultdict(float)
            for g, w in weights.items():
                totals[g[index]] += w
            weights = {g: (w * target.get(g[index], 0.0) / totals[g[index]] if totals[g[index]] else 0.0)
                       for g, w in weights.items()}
    return weights


def water_fill(rates: dict[MixKey, float], limits: dict[MixKey, int], amount: float) -> dict[MixKey, float]:
    """Split ``amount`` by ``rates``; what a member cannot take beyond its limit goes to the others."""
    share: dict[MixKey, float] = {k: 0.0 for k in rates}
    open_keys = {k for k, r in rates.items() if r > 0 and limits[k] > 0}
    left = amount
    while open_keys and left > 1e-9:
        total_rate = sum(rates[k] for k in open_keys)
        full = {k for k in open_keys if share[k] + left * rates[k] / total_rate >= limits[k]}
        if not full:
            for k in open_keys:
                share[k] += left * rates[k] / total_rate
            break
        for k in full:
            left -= limits[k] - share[k]
            share[k] = float(limits[k])
        open_keys -= full
    return share


def mixture(available: dict[MixKey, int], mixing: Mixing, caps: dict[str, int] | None = None) -> dict[MixKey, Quota]:
    """Quota per (dataset, task, language) from available example counts and the stage's mixing.

    Explicit task or language shares are honoured exactly: when the scarcest group cannot fill its
    share (and upsampling is off) every group shrinks with it, so 1:1 stays 1:1.
    """
    caps = caps or {}
    cap_of = {k: caps.get(k[0], mixing.cap) for k in available}
    capped = {k: min(n, cap_of[k]) for k, n in available.items()}
    rates = {k: rate(n, cap_of[k], mixing.temperature) for k, n in available.items()}
    total = sum(capped.values())
    if total == 0:
        return {k: Quota(n, capped[k], 0) for k, n in available.items()}
    groups: dict[tuple[str, str], list[MixKey]] = defaultdict(list)
    for key in sorted(available):
        groups[(key[1], key[2])].append(key)
    mass = {g: sum(rates[k] for k in keys) for g, keys in groups.items()}
    explicit = bool(mixing.task_shares or mixing.language_shares)
    if explicit:
        task_mass: dict[str, float] = defaultdict(float)
        lang_mass: dict[str, float] = defaultdict(float)
        for (task, lang), m in mass.items():
            task_mass[task] += m
            lang_mass[lang] += m
        weights = fit_marginals(mass, _shares(task_mass, dict(mixing.task_shares)),
                                _shares(lang_mass, dict(mixing.language_shares)))
    else:
        weights = {g: m for g, m in mass.items() if m > 0}
    norm = sum(weights.values()) or 1.0
    group_target = {g: total * w / norm for g, w in weights.items()}
    limit = {k: (cap_of[k] if mixing.upsample and available[k] > 0 else capped[k]) for k in available}
    if explicit:
        capacity = {g: sum(limit[k] for k in groups[g]) for g in group_target}
        scale = min([1.0] + [capacity[g] / t for g, t in group_target.items() if t > 0])
        group_target = {g: t * scale for g, t in group_target.items()}
    targets: dict[MixKey, float] = {k: 0.0 for k in available}
    for g, keys in groups.items():
        targets.update(water_fill({k: rates[k] for k in keys}, {k: limit[k] for k in keys}, group_target.get(g, 0.0)))
    quotas = largest_remainder(targets, round(sum(targets.values())))
    return {k: Quota(available[k], capped[k], min(quotas[k], limit[k])) for k in available}


@dataclass
class Selection:
    """Which examples of one (dataset, task) a stage takes: every example ``full`` times, plus one more
    copy of those whose rank is below ``threshold`` (None: no extra copy). Computed by the driver from
    all ranks of the dataset, so every unit decides alone and the result does not depend on workers."""

    full: int
    threshold: int | None


@dataclass
class RenderUnit:
    """One phase-1 example file rendered for one output (a stage, or ``eval``)."""

    output: str
    dataset: str
    example_file: str
    selections: dict[str, Selection] | None  # task -> selection; None = every example once (eval)
    cross_lingual_ratio: float = 0.0
    cache_key: str = ""  # set by the driver from everything the output depends on; "" = never cached
    early: bool = False  # phase 1 rendered first copies with this output's cross-lingual ratio
    dropped: dict[str, str] | None = None  # document id -> why the cleaning plan removes it (curate/cleaning)

    @property
    def key(self) -> str:
        return f"{self.output}/{self.dataset}/{Path(self.example_file).stem}"


def plan_selection(ranks: np.ndarray | StoredRanks, quota: int) -> Selection:
    """The selection that takes exactly ``quota`` examples (copies beyond the first when quota > len);
    ``ranks``: in memory, or in their phase-1 files (read back only when a threshold is needed)."""
    n = len(ranks)
    if n == 0 or quota <= 0:
        return Selection(0, None)
    full, remainder = divmod(quota, n)
    if remainder == 0:
        return Selection(full, None)
    if isinstance(ranks, StoredRanks):
        return Selection(full, ranks.kth_smallest(remainder))
    return Selection(full, int(np.partition(ranks, remainder)[remainder]))


def copies(ranks: np.ndarray, selection: Selection) -> np.ndarray:
    """How many copies of each example (by rank) a selection takes: ``full``, plus one below ``threshold``."""
    taken = np.full(len(ranks), selection.full, dtype=np.int64)
    if selection.threshold is not None:
        taken += ranks < np.uint64(selection.threshold)
    return taken

def read_ranks(files_of: dict[tuple[str, str], list[str]], used: list[DatasetEntry],
               dropped: dict[str, dict[str, str]] | None = None,
               ) -> tuple[dict[tuple[str, str], StoredRanks], Counter[tuple[str, ...]]]:
    """Selection ranks (written by phase 1) of every training example per (dataset, task), less the
    examples of documents the cleaning plan removes (``dropped``: per example file, document id -> reason);
    and those removed per (dataset, split, task, reason). The ranks stay in their files (``StoredRanks``):
    this pass only counts them."""
    found: dict[tuple[str, str], StoredRanks] = {}
    removed: Counter[tuple[str, ...]] = Counter()
    for entry in used:
        for split in entry.train_splits:
            for path in sorted(files_of.get((entry.name, split), [])):
                gone = (dropped or {}).get(path)

                def count_removed(task: str, reason: str, n: int, name: str = entry.name, split: str = split) -> None:
                    removed[(name, split, task, reason)] += n
                for task, ranks in file_ranks(path, gone, count_removed):
                    stored = found.setdefault((entry.name, task), StoredRanks(task))
                    stored.files.append((path, gone))
                    stored.count += len(ranks)
    return found, removed


def available_counts(summaries: list[ExtractSummary], catalog: Catalog,
                     cleaned: Counter[tuple[str, ...]] | None = None) -> dict[MixKey, int]:
    """Examples per (dataset, task, language) of the training splits, as phase 1 left them, less those the
    cleaning plan removes (``cleaned``, from ``read_ranks``)."""
    counts: Counter[MixKey] = Counter()
    for (dataset, _, task, _), n in (cleaned or Counter()).items():
        counts[(dataset, task, catalog.dataset(dataset).language)] -= n
    for summary in summaries:
        entry = catalog.dataset(summary.dataset)
        if summary.split in entry.train_splits:
            for task, n in summary.per_task("examples").items():
                counts[(entry.name, task, entry.language)] += n
    return dict(sorted((k, n) for k, n in counts.items() if n > 0))


def plan_render_units(stages: list[Stage], used: list[DatasetEntry], available: dict[MixKey, int],
                      ranks: Mapping[tuple[str, str], np.ndarray | StoredRanks],
                      files_of: dict[tuple[str, str], list[str]],
                      early_of: dict[str, EarlyRender | None], input_keys: dict[str, str], common_key: str,
                      dropped: dict[str, dict[str, str]] | None = None,
                      ) -> tuple[list[RenderUnit], dict[str, dict[MixKey, Quota]]]:
    """Every stage's mixture, and one RenderUnit per example file and output (stages, then ``eval``), each
    with a cache key of everything its records depend on (``input_keys``: the phase-1 file's own key) and
    the documents the cleaning plan removes from it (``dropped``)."""
    plans: list[RenderUnit] = []
    mixtures: dict[str, dict[MixKey, Quota]] = {}
    caps = {e.name: e.cap for e in used if e.cap}
    for stage in stages:
        counts = {k: n for k, n in available.items() if stage.uses(k[0], k[1])}
        mixtures[stage.name] = mixture(counts, stage.mixing, caps)
        for entry in used:
            selections = {k[1]: plan_selection(ranks.get((entry.name, k[1]), np.empty(0, np.uint64)), q.quota)
                          for k, q in mixtures[stage.name].items() if k[0] == entry.name}
            for split in entry.train_splits:
                for path in sorted(files_of.get((entry.name, split), [])):
                    ratio = stage.mixing.cross_lingual_ratio
                    early_spec = early_of[path]
                    early = early_spec is not None and early_spec.cross_lingual_ratio == ratio
                    plans.append(RenderUnit(stage.name, entry.name, path, selections, ratio, early=early,
                                            dropped=(dropped or {}).get(path)))
    for entry in used:
        for split in entry.eval_splits:
            for path in sorted(files_of.get((entry.name, split), [])):
                plans.append(RenderUnit(EVAL_OUTPUT, entry.name, path, None, early=early_of[path] is not None))
    for plan in plans:
        chosen = sorted((t, sel.full, sel.threshold) for t, sel in (plan.selections or {}).items())
        plan.cache_key = stable_hash(plan.key, chosen, plan.cross_lingual_ratio, input_keys[plan.example_file],
                                     common_key, sorted((plan.dropped or {}).items()), length=32)
    plans.sort(key=lambda p: (-file_size(p.example_file), p.key))
    return plans, mixtures
