"""What the two parallel steps return per unit: typed summaries of counts and rejects.

A summary travels from a worker to the driver and is cached beside the unit's intermediate file (as
JSON, ``to_json``/``from_json``), so a resumed build reads back what the first run counted. Counts per
task keep their published names (``examples.ner`` in a manifest's ``sources``, ``selected.ner``); the one
place that reads such a name apart is ``per_task``.
"""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


def per_task(counts: Mapping[str, int], kind: str) -> dict[str, int]:
    """``{task: n}`` of the counts named ``<kind>.<task>`` (``examples``, ``decontaminated``, ``selected``...)."""
    prefix = f"{kind}."
    return {name[len(prefix):]: n for name, n in counts.items() if name.startswith(prefix)}


def task_count(kind: str, task: str) -> str:
    """The published name of a per-task count: ``examples.ner``."""
    return f"{kind}.{task}"


class _JsonSummary:
    """JSON round trip of a summary dataclass; keys it does not know (an older cache) are ignored."""

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), ensure_ascii=False, sort_keys=True)  # type: ignore[call-overload]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Any:
        names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        return cls(**{k: v for k, v in data.items() if k in names})

    @classmethod
    def from_json(cls, text: str) -> Any:
        return cls.from_dict(json.loads(text))


@dataclass
class ExtractSummary(_JsonSummary):
    """Phase 1's account of one source file: read = documents + rejected, per-task example counts and what
    removed examples (``stats``), the rejects, and the keys that make it reusable."""

    dataset: str
    split: str
    file: str
    documents: int = 0
    rejected: int = 0
    annotations_dropped: int = 0
    annotations_repaired: int = 0
    annotations_over_budget: int = 0
    stats: dict[str, int] = field(default_factory=dict)
    examples: int = 0
    rejects: list[dict[str, Any]] = field(default_factory=list)
    cache_key: str = ""
    unit_key: str = ""
    contaminated: dict[str, list[str]] = field(default_factory=dict)  # document -> evaluation sets it matched
    rendered_early: int = 0
    seconds: float = 0.0  # for performance reports; not in outputs
    eval_ngrams: int | None = None
    cached: bool = False

    def per_task(self, kind: str) -> dict[str, int]:
        return per_task(self.stats, kind)

    def remove(self, kind: str, removed: Mapping[str, int]) -> None:
        """Move ``removed`` examples per task from ``examples.<task>`` to ``<kind>.<task>``."""
        stats = Counter(self.stats)
        for task, n in removed.items():
            stats[task_count("examples", task)] -= n
            stats[task_count(kind, task)] = n
        self.stats = dict(sorted(stats.items()))


@dataclass
class RenderSummary(_JsonSummary):
    """Phase 2's account of one example file for one output: per task what was ``available``, ``selected``
    and ``unrenderable`` (``counts``), the rejects, and where its records are: ``path``, a phase-2 file, or
    the phase-1 file itself when it is taken whole (``early_entry_hash`` then set)."""

    output: str
    dataset: str
    language: str
    path: str
    rows: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    rejects: list[dict[str, Any]] = field(default_factory=list)
    cache_key: str = ""
    early_entry_hash: str | None = None
    cached: bool = False

    def per_task(self, kind: str) -> dict[str, int]:
        return per_task(self.counts, kind)
