"""Phase 1: read one source file of one dataset split and turn its documents into task examples.

A unit of work is a whole file, so Ray's per-call overhead stays small. Its output (an example
parquet file and a JSON summary with counts and rejects) is cached under a key of the file's
content, the catalog entry and the code version: a rerun skips finished units.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from curate import __version__
from curate.catalog import DatasetEntry
from curate.decontam import EvalIndex, ngram_hashes
from curate.readers import ReadContext, get_reader
from curate.readers.base import ARCHIVE_SEPARATOR
from curate.tasks import get_task, tasks_fingerprint
from curate.tasks.base import Example, selection_rank, stable_hash
from curate.windows import split_long_document

EXAMPLE_SCHEMA = pa.schema([
    ("example_id", pa.string()), ("dataset", pa.string()), ("split", pa.string()), ("task", pa.string()),
    ("subtask", pa.string()), ("source_lang", pa.string()), ("document_id", pa.string()),
    ("source_file", pa.string()), ("fields", pa.string()), ("gold", pa.string()),
    ("text_for_decontam", pa.string()), ("rank", pa.uint64()),
])


@dataclass(frozen=True)
class ConvertUnit:
    """One file of one split of one dataset."""

    dataset: str
    split: str
    file: str  # absolute path, or archive!member
    display_file: str  # as the catalog names it, for rejects and provenance

    @property
    def key(self) -> str:
        return stable_hash(self.dataset, self.split, self.file, length=16)


def file_digest(path: str) -> str:
    """Content hash of a source file (of the archive, for archive members)."""
    real = path.split(ARCHIVE_SEPARATOR, 1)[0]
    digest = hashlib.sha256()
    with open(real, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def unit_cache_key(unit: ConvertUnit, entry: DatasetEntry) -> str:
    # the task code is part of the key: examples made by an older version of it must not be reused
    return stable_hash(file_digest(unit.file), unit.file, entry.fingerprint(), __version__, tasks_fingerprint(),
                       length=32)


def convert_unit(unit: ConvertUnit, entry: DatasetEntry, work_dir: Path, normalize: Any = None,
                 ngram: int | None = None, window_chars: int | None = None,
                 eval_index: EvalIndex | None = None, seed: int = 0) -> dict[str, Any]:
    """Read, validate and turn into examples one unit; write its examples and summary; return the summary.

    For an evaluation split (``ngram`` set) it also writes the n-gram hashes of its inputs; for a
    training split (``eval_index`` given) it drops the examples of documents that share an n-gram
    with an evaluation input, so that mixing counts only clean examples.
    """
    out_dir = work_dir / "phase1" / unit.dataset / unit.split
    out_dir.mkdir(parents=True, exist_ok=True)
    examples_path = out_dir / f"{unit.key}.parquet"
    summary_path = out_dir / f"{unit.key}.json"
    cache_key = stable_hash(unit_cache_key(unit, entry), ngram, window_chars, seed, normalize is not None,
                            eval_index.fingerprint() if eval_index is not None else "", length=32)
    if summary_path.exists() and examples_path.exists():
        summary = json.loads(summary_path.read_text(encoding="utf-8"))
        if summary.get("cache_key") == cache_key:
            summary["cached"] = True
            return summary

    rows, summary = process_unit(unit, entry, normalize, window_chars)
    summary["cache_key"] = cache_key
    summary["unit_key"] = unit.key
    if eval_index is not None and len(eval_index):
        rows = _decontaminate(rows, eval_index, summary)
    for row in rows:  # the seeded selection rank, so the driver plans selections from one small column
        row["rank"] = selection_rank(seed, row["example_id"])
    table = pa.Table.from_pylist(rows, schema=EXAMPLE_SCHEMA)
    tmp = examples_path.with_suffix(".parquet.tmp")
    pq.write_table(table, tmp, compression="none")  # scratch read once by phase 2: speed over size
    tmp.replace(examples_path)
    if ngram:
        texts = sorted({(r["document_id"], r["text_for_decontam"]) for r in rows})
        parts = [ngram_hashes(text, ngram) for _, text in texts]
        hashes = np.unique(np.concatenate(parts)) if parts else np.empty(0, dtype=np.uint64)
        tmp_grams = out_dir / f"{unit.key}.ngrams.tmp.npy"
        np.save(tmp_grams, hashes)
        tmp_grams.replace(ngrams_path(work_dir, unit))
        summary["eval_ngrams"] = len(hashes)
    tmp_summary = summary_path.with_suffix(".json.tmp")
    tmp_summary.write_text(json.dumps(summary, ensure_ascii=False, sort_keys=True), encoding="utf-8")
    tmp_summary.replace(summary_path)
    return summary


def process_unit(unit: ConvertUnit, entry: DatasetEntry, normalize: Any = None, window_chars: int | None = None,
                 ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Read one unit into example rows (sorted by id) and a summary of counts and rejects.

    Counts are of the source documents; examples come from their windows when a text is longer
    than ``window_chars``.
    """
    assert entry.format is not None
    reader = get_reader(entry.format, entry.options)
    labels = frozenset(entry.labels)
    ctx = ReadContext(unit.dataset, unit.split, unit.display_file, entry.language, labels)
    documents = 0
    stats: Counter[str] = Counter()
    rows: list[dict[str, Any]] = []
    for doc in reader.read(unit.file, ctx):
        if normalize is not None:
            doc = normalize(doc, entry, ctx)
            if doc is None:
                continue
        documents += 1
        _count_annotations(doc, stats)
        parts = split_long_document(doc, window_chars, ctx) if window_chars and doc.kind == "ie" else [doc]
        if len(parts) > 1:
            stats["windows"] += len(parts)
        for part in parts:
            for task_name in entry.tasks:
                task = get_task(task_name)
                if task is None or not task.accepts(part):
                    continue
                for example in task.examples(part, entry, unit.display_file):
                    rows.append(example.to_row())
                    stats[f"examples.{task_name}"] += 1
    rows.sort(key=lambda r: r["example_id"])
    stats.update(ctx.stats)  # counts about the file itself, e.g. rows filtered out or unlabeled
    summary = {
        "dataset": unit.dataset, "split": unit.split, "file": unit.display_file,
        "documents": documents, "rejected": ctx.rejected_records,
        "annotations_dropped": sum(1 for r in ctx.rejects if r.action == "dropped"),
        "annotations_repaired": sum(1 for r in ctx.rejects if r.action == "repaired"),
        "annotations_over_budget": sum(1 for r in ctx.rejects if r.action == "over_budget"),
        "stats": dict(sorted(stats.items())), "examples": len(rows),
        "rejects": [r.to_dict() for r in ctx.rejects], "cached": False,
    }
    return rows, summary


def _count_annotations(doc: Any, stats: Counter[str]) -> None:
    if doc.kind == "ie":
        stats["entities"] += len(doc.entities)
        stats["relations"] += len(doc.relations)
        stats["events"] += len(doc.events)
        stats["coreferences"] += len(doc.coreferences)
        for key, value in doc.stats.items():
            stats[key] += value
    elif doc.kind == "qa":
        stats["questions"] += 1
    elif doc.kind == "dialogue":
        stats["turns"] += len(doc.turns)


def _decontaminate(rows: list[dict[str, Any]], index: EvalIndex, summary: dict[str, Any]) -> list[dict[str, Any]]:
    """Drop the examples of documents whose input shares an n-gram with an evaluation input."""
    verdicts: dict[str, list[str]] = {}
    kept = []
    stats = summary["stats"]
    for row in rows:
        key = f"{row['split']}/{row['document_id']}"
        if key not in verdicts:
            verdicts[key] = index.matches(row["text_for_decontam"])
        if verdicts[key]:
            stats[f"examples.{row['task']}"] -= 1
            stats[f"decontaminated.{row['task']}"] = stats.get(f"decontaminated.{row['task']}", 0) + 1
        else:
            kept.append(row)
    summary["stats"] = dict(sorted(stats.items()))
    summary["examples"] = len(kept)
    summary["contaminated"] = {k: v for k, v in sorted(verdicts.items()) if v}
    return kept


def ngrams_path(work_dir: Path, unit: ConvertUnit) -> Path:
    return work_dir / "phase1" / unit.dataset / unit.split / f"{unit.key}.ngrams.npy"


def read_examples(work_dir: Path, unit: ConvertUnit) -> list[Example]:
    path = work_dir / "phase1" / unit.dataset / unit.split / f"{unit.key}.parquet"
    return [Example.from_row(r) for r in pq.read_table(path).to_pylist()]
