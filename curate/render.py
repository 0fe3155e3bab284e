"""Phase 2: select a dataset's examples for a stage by a seeded hash, then render them.

Selection and template choice depend only on the seed and stable example ids, never on which
worker runs or in what order, so the output is the same with 1 or 100 workers.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from curate.catalog import Catalog
from curate.tasks import get_task
from curate.tasks.base import Example, canonical_json, stable_hash
from curate.templates import TemplateLibrary

RECORD_SCHEMA = pa.schema([
    ("id", pa.string()), ("dataset", pa.string()), ("split", pa.string()), ("task", pa.string()),
    ("subtask", pa.string()), ("source_lang", pa.string()), ("prompt_lang", pa.string()),
    ("template_id", pa.string()),
    ("messages", pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))),
    ("answer_format", pa.string()), ("gold", pa.string()),
    ("provenance", pa.struct([("document_id", pa.string()), ("example_id", pa.string()),
                              ("source_file", pa.string()), ("catalog_entry_hash", pa.string())])),
    # appended last so that readers of the older columns are unaffected; see schemas/instruction.py
    ("answer_fields", pa.string()),
])
# 64-bit keys: the global order and the duplicate groups are computed on integers, which Arrow sorts and
# groups several times faster than strings (a collision among a million records has odds near 1e-8)
WORK_SCHEMA = RECORD_SCHEMA.append(pa.field("order_key", pa.uint64())).append(pa.field("dedup_key", pa.uint64()))
LABELLED_TASKS = ("ner", "re", "ee", "tc", "tp")  # tasks whose examples cannot be asked without label options


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

    @property
    def key(self) -> str:
        return f"{self.output}/{self.dataset}/{Path(self.example_file).stem}"


def plan_selection(ranks: np.ndarray, quota: int) -> Selection:
    """The selection that takes exactly ``quota`` examples (copies beyond the first when quota > len)."""
    n = len(ranks)
    if n == 0 or quota <= 0:
        return Selection(0, None)
    full, remainder = divmod(quota, n)
    if remainder == 0:
        return Selection(full, None)
    threshold = int(np.partition(ranks, remainder)[remainder]) if remainder < n else None
    return Selection(full, threshold)


def copies_of(rank: int, selection: Selection) -> int:
    extra = selection.threshold is not None and rank < selection.threshold
    return selection.full + (1 if extra else 0)


def dedup_key(messages: list[dict[str, str]]) -> int:
    """Exact-duplicate key: the conversation with white space collapsed and case folded."""
    blob = "\x1e".join(" ".join(m["content"].split()).casefold() for m in messages)
    return int(stable_hash(blob, length=16), 16)


def render_example(example: Example, copy: int, catalog: Catalog, library: TemplateLibrary, seed: int,
                   cross_lingual_ratio: float = 0.0) -> tuple[dict[str, Any] | None, str]:
    """One instruction record (or None and the reason it could not be made)."""
    entry = catalog.dataset(example.dataset)
    task = get_task(example.task)
    if task is None:
        return None, f"no task family {example.task!r}"
    lang = task.prompt_language(example)
    if cross_lingual_ratio > 0:
        draw = int(stable_hash(seed, example.example_id, copy, "cross-lingual"), 16) / 16**16
        if draw < cross_lingual_ratio:
            lang = "zh" if lang == "en" else "en"
    has_labels = bool(example.fields.get("options")) or example.task not in LABELLED_TASKS
    force = entry.task_option(example.task).list_labels
    template = library.choose(example.task, example.subtask, has_labels, example.example_id, seed, copy,
                              lists_labels=force)
    if template is None:
        return None, f"no template for task {example.task} subtask {example.subtask}"
    fields = task.prompt_fields(example, entry, lang)
    prompt = template.render(fields, lang)
    fmt = template.spec.answer_format or task.format_for(example)
    response = task.render_answer(example, entry, lang, fmt)
    messages = task.messages(example, entry, lang, prompt, response)
    size = sum(len(m["content"]) for m in messages)
    if size > catalog.output.max_chars:
        return None, f"too long: {size} characters > output.max_chars {catalog.output.max_chars}"
    record_id = stable_hash(example.example_id, template.id, lang, copy, seed, length=24)
    return {
        "id": record_id, "dataset": example.dataset, "split": example.split, "task": example.task,
        "subtask": example.subtask, "source_lang": example.source_lang, "prompt_lang": lang,
        "template_id": template.id, "messages": messages, "answer_format": fmt,
        "gold": canonical_json(example.gold),
        "provenance": {"document_id": example.document_id, "example_id": example.example_id,
                       "source_file": example.source_file, "catalog_entry_hash": entry.fingerprint()},
        "answer_fields": canonical_json(task.answer_fields(example, entry, lang)),
        "order_key": int(stable_hash(seed, record_id, "order", length=16), 16),
        "dedup_key": dedup_key(messages),
    }, ""


def render_unit(unit: RenderUnit, catalog: Catalog, library: TemplateLibrary, seed: int,
                work_dir: Path) -> dict[str, Any]:
    """Select and render one example file for one output, streaming it in batches; write a work parquet;
    return counts and rejects."""
    out = work_dir / "phase2" / f"{unit.key}.parquet"
    summary_path = out.with_suffix(".json")
    if unit.cache_key and out.exists() and summary_path.exists():
        cached = json.loads(summary_path.read_text(encoding="utf-8"))
        if cached.get("cache_key") == unit.cache_key:
            return {**cached, "cached": True}
    counts: Counter[str] = Counter()
    rows: list[dict[str, Any]] = []
    rejects: list[dict[str, Any]] = []
    written = 0
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".parquet.tmp")
    # streamed: a worker holds one batch of records; the driver puts them in global order later
    with pq.ParquetWriter(tmp, WORK_SCHEMA, compression="none") as writer:  # scratch: speed over size
        for batch in pq.ParquetFile(unit.example_file).iter_batches(batch_size=4096):
            for row in batch.to_pylist():
                task_name = row["task"]
                counts[f"available.{task_name}"] += 1
                if unit.selections is None:
                    copies = 1
                else:
                    selection = unit.selections.get(task_name)
                    copies = copies_of(row["rank"], selection) if selection else 0
                if not copies:
                    continue
                example = Example.from_row(row)
                for copy in range(copies):
                    counts[f"selected.{task_name}"] += 1
                    record, reason = render_example(example, copy, catalog, library, seed, unit.cross_lingual_ratio)
                    if record is None:
                        counts[f"unrenderable.{task_name}"] += 1
                        rejects.append({"dataset": example.dataset, "split": example.split,
                                        "file": example.source_file, "line": None, "record_id": example.document_id,
                                        "field": task_name, "reason": reason, "action": "rejected"})
                        continue
                    rows.append(record)
            if rows:
                writer.write_table(pa.Table.from_pylist(rows, schema=WORK_SCHEMA))
                written += len(rows)
                rows = []
    tmp.replace(out)
    summary = {"output": unit.output, "dataset": unit.dataset, "language": catalog.dataset(unit.dataset).language,
               "path": str(out), "rows": written,
               "counts": dict(sorted(counts.items())), "rejects": rejects, "cache_key": unit.cache_key}
    tmp_summary = summary_path.with_suffix(".json.tmp")
    tmp_summary.write_text(summary_json(summary), encoding="utf-8")
    tmp_summary.replace(summary_path)
    return {**summary, "cached": False}


def summary_json(summary: dict[str, Any]) -> str:
    return json.dumps(summary, ensure_ascii=False, sort_keys=True)
