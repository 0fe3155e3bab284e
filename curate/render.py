"""Phase 2: select a dataset's examples for a stage by a seeded hash, then render them.

Selection and template choice depend only on the seed and stable example ids, never on which
worker runs or in what order, so the output is the same with 1 or 100 workers.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from curate.catalog import Catalog
from curate.tasks import get_task
from curate.tasks.base import Example, canonical_json, normalize_answer, stable_hash
from curate.templates import TemplateLibrary

RECORD_SCHEMA = pa.schema([
    ("id", pa.string()), ("dataset", pa.string()), ("split", pa.string()), ("task", pa.string()),
    ("subtask", pa.string()), ("source_lang", pa.string()), ("prompt_lang", pa.string()),
    ("template_id", pa.string()),
    ("messages", pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))),
    ("answer_format", pa.string()), ("gold", pa.string()),
    ("provenance", pa.struct([("document_id", pa.string()), ("example_id", pa.string()),
                              ("source_file", pa.string()), ("catalog_entry_hash", pa.string())])),
])
WORK_SCHEMA = RECORD_SCHEMA.append(pa.field("order_key", pa.string())).append(pa.field("dedup_key", pa.string()))


@dataclass
class RenderUnit:
    """One dataset's examples for one output (a stage, or ``eval``), with the quota of each task."""

    output: str
    dataset: str
    splits: list[str]
    example_files: list[str]
    quotas: dict[str, int] | None  # task -> quota; None = everything once (eval)
    cross_lingual_ratio: float = 0.0
    upsample: bool = False  # fill a quota above what is left with more copies (other templates)
    cache_key: str = ""  # set by the driver from everything the output depends on; "" = never cached

    @property
    def key(self) -> str:
        return f"{self.output}/{self.dataset}"


def selection_rank(seed: int, example_id: str) -> str:
    return stable_hash(seed, example_id, "select", length=32)


def select(examples: list[Example], quota: int, seed: int) -> list[tuple[Example, int]]:
    """The first ``quota`` examples by seeded hash; beyond what exists, further copies (copy > 0)."""
    ranked = sorted(examples, key=lambda e: selection_rank(seed, e.example_id))
    if not ranked:
        return []
    chosen: list[tuple[Example, int]] = []
    copy = 0
    while len(chosen) < quota:
        take = ranked[: quota - len(chosen)]
        chosen.extend((e, copy) for e in take)
        copy += 1
    return chosen


def dedup_key(messages: list[dict[str, str]]) -> str:
    blob = "\x1e".join(normalize_answer(m["content"]) for m in messages)
    return stable_hash(blob, length=32)


def render_example(example: Example, copy: int, catalog: Catalog, library: TemplateLibrary, seed: int,
                   cross_lingual_ratio: float = 0.0) -> tuple[dict[str, Any] | None, str]:
    """One instruction record (or None and the reason it could not be made)."""
    entry = catalog.dataset(example.dataset)
    task = get_task(example.task)
    if task is None:
        return None, f"no task family {example.task!r}"
    lang = example.source_lang
    if cross_lingual_ratio > 0:
        draw = int(stable_hash(seed, example.example_id, copy, "cross-lingual"), 16) / 16**16
        if draw < cross_lingual_ratio:
            lang = "zh" if lang == "en" else "en"
    has_labels = bool(example.fields.get("options")) or example.task not in ("ner", "re", "tc", "tp")
    template = library.choose(example.task, example.subtask, has_labels, example.example_id, seed, copy)
    if template is None:
        return None, f"no template for task {example.task} subtask {example.subtask}"
    fields = task.prompt_fields(example, entry, lang)
    prompt = template.render(fields, lang)
    fmt = template.spec.answer_format or task.format_for(example)
    response = task.render_answer(example, entry, lang, fmt)
    if len(prompt) + len(response) > catalog.output.max_chars:
        return None, f"too long: {len(prompt) + len(response)} characters > output.max_chars {catalog.output.max_chars}"
    record_id = stable_hash(example.example_id, template.id, lang, copy, seed, length=24)
    messages = [{"role": "user", "content": prompt}, {"role": "assistant", "content": response}]
    return {
        "id": record_id, "dataset": example.dataset, "split": example.split, "task": example.task,
        "subtask": example.subtask, "source_lang": example.source_lang, "prompt_lang": lang,
        "template_id": template.id, "messages": messages, "answer_format": fmt,
        "gold": canonical_json(example.gold),
        "provenance": {"document_id": example.document_id, "example_id": example.example_id,
                       "source_file": example.source_file, "catalog_entry_hash": entry.fingerprint()},
        "order_key": stable_hash(seed, record_id, "order", length=32),
        "dedup_key": dedup_key(messages),
    }, ""


def render_unit(unit: RenderUnit, catalog: Catalog, library: TemplateLibrary, seed: int,
                work_dir: Path) -> dict[str, Any]:
    """Select and render one dataset for one output; write a work parquet; return counts and rejects."""
    out = work_dir / "phase2" / unit.output / f"{unit.dataset}.parquet"
    summary_path = out.with_suffix(".json")
    if unit.cache_key and out.exists() and summary_path.exists():
        cached = json.loads(summary_path.read_text(encoding="utf-8"))
        if cached.get("cache_key") == unit.cache_key:
            return {**cached, "cached": True}
    examples: dict[str, list[Example]] = defaultdict(list)
    counts: Counter[str] = Counter()
    for path in unit.example_files:
        for row in pq.read_table(path).to_pylist():
            example = Example.from_row(row)
            examples[example.task].append(example)
    rows: list[dict[str, Any]] = []
    rejects: list[dict[str, Any]] = []
    for task_name in sorted(examples):
        pool = examples[task_name]
        quota = len(pool) if unit.quotas is None else unit.quotas.get(task_name, 0)
        if not unit.upsample:
            quota = min(quota, len(pool))
        counts[f"available.{task_name}"] += len(pool)
        chosen = select(pool, quota, seed)
        counts[f"selected.{task_name}"] += len(chosen)
        for example, copy in chosen:
            record, reason = render_example(example, copy, catalog, library, seed, unit.cross_lingual_ratio)
            if record is None:
                counts[f"unrenderable.{task_name}"] += 1
                rejects.append({"dataset": example.dataset, "split": example.split, "file": example.source_file,
                                "line": None, "record_id": example.document_id, "field": task_name,
                                "reason": reason, "action": "rejected"})
                continue
            rows.append(record)
    rows.sort(key=lambda r: r["order_key"])
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".parquet.tmp")
    pq.write_table(pa.Table.from_pylist(rows, schema=WORK_SCHEMA), tmp, compression="zstd")
    tmp.replace(out)
    summary = {"output": unit.output, "dataset": unit.dataset, "language": catalog.dataset(unit.dataset).language,
               "path": str(out), "rows": len(rows),
               "counts": dict(sorted(counts.items())), "rejects": rejects, "cache_key": unit.cache_key}
    tmp_summary = summary_path.with_suffix(".json.tmp")
    tmp_summary.write_text(summary_json(summary), encoding="utf-8")
    tmp_summary.replace(summary_path)
    return {**summary, "cached": False}


def summary_json(summary: dict[str, Any]) -> str:
    return json.dumps(summary, ensure_ascii=False, sort_keys=True)
