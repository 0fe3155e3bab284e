"""Early render: phase 1 renders the first copy of the examples a stage can still select, so that
phase 2 mostly filters (see ``plan.EarlyRender``). Rendering early or late gives the same record."""

from __future__ import annotations

import heapq
from collections import defaultdict
from typing import Any

import pyarrow as pa

from curate.build.plan import EarlyRender
from curate.build.record import add_keys, render_example
from curate.catalog import Catalog
from curate.tasks.base import Example
from curate.templates import TemplateLibrary
from schemas.instruction import MESSAGES_TYPE

# what phase 1 adds to an example when it renders its first copy early (all null when it did not); the
# rest of a record (dataset, task, gold, provenance, ...) is rebuilt from the example's own columns
EARLY_FIELDS = [pa.field("id", pa.string()), pa.field("prompt_lang", pa.string()),
                pa.field("template_id", pa.string()), pa.field("messages", MESSAGES_TYPE),
                pa.field("answer_format", pa.string()), pa.field("answer_fields", pa.string()),
                pa.field("order_key", pa.uint64()), pa.field("dedup_key", pa.uint64()),
                pa.field("render_error", pa.string())]


EARLY_NAMES = tuple(f.name for f in EARLY_FIELDS)


_RECORD_EARLY_NAMES = tuple(name for name in EARLY_NAMES if name != "render_error")


class EarlyRenderer:
    """Phase 1's side of :class:`EarlyRender` for one file: the early columns of each example."""

    def __init__(self, spec: EarlyRender, catalog: Catalog, library: TemplateLibrary, seed: int) -> None:
        self.spec, self.catalog, self.library, self.seed = spec, catalog, library, seed
        self.lowest: dict[str, list[int]] = defaultdict(list)  # per task: max-heap (negated) of the lowest ranks
        self.rendered = 0

    def _may_be_selected(self, task: str, rank: int) -> bool:
        if task not in self.spec.tasks:
            return False
        cap = self.spec.cap
        if cap is None:
            return True
        lowest = self.lowest[task]
        if len(lowest) < cap:  # a plain list until it holds cap ranks, then a heap
            lowest.append(-rank)
            if len(lowest) == cap:
                heapq.heapify(lowest)
            return True
        if rank < -lowest[0]:
            heapq.heapreplace(lowest, -rank)
            return True
        return False

    def columns(self, examples: list[Example], ranks: list[int], golds: list[str]) -> dict[str, list[Any]]:
        """The early columns of a batch of examples (``golds``: their gold JSON), None where an example
        was not rendered early."""
        out: dict[str, list[Any]] = {name: [None] * len(examples) for name in EARLY_NAMES}
        for index, (example, rank) in enumerate(zip(examples, ranks, strict=True)):
            if not self._may_be_selected(example.task, rank):
                continue
            self.rendered += 1
            record, reason = render_example(example, 0, self.catalog, self.library, self.seed,
                                            self.spec.cross_lingual_ratio, gold_json=golds[index])
            if record is None:
                out["render_error"][index] = reason
                continue
            add_keys(record)
            for name in _RECORD_EARLY_NAMES:
                out[name][index] = record[name]
        return out

