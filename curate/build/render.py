"""Render (phase 2): select a dataset's examples for an output by their seeded ranks and render them.

Selection and template choice depend only on the seed and stable example ids, never on which
worker runs or in what order, so the output is the same with 1 or 100 workers. Most first copies
are rendered in phase 1 already (``early``); phase 2 keeps those an output selects.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from curate import storage
from curate.build import intermediate
from curate.build.record import WORK_SCHEMA, add_keys, render_example
from curate.build.select import RenderUnit, Selection, copies
from curate.build.summaries import RenderSummary
from curate.catalog import Catalog
from curate.cleaning.plan import removed_mask
from curate.readers.base import Reject
from curate.tasks.base import Example
from curate.templates import TemplateLibrary
from schemas.instruction import PROVENANCE_TYPE, RECORD_SCHEMA


def render_unit(unit: RenderUnit, catalog: Catalog, library: TemplateLibrary, seed: int,
                work_dir: Path) -> RenderSummary:
    """Select and render one example file for one output, streaming it in batches; write a work file;
    return counts and rejects.

    First taken that phase 1 rendered early are taken with vectorised filters; Python renders only
    the rest (extra taken when upsampling, and examples phase 1 did not render)."""
    out = work_dir / "phase2" / f"{unit.key}{intermediate.SUFFIX}"
    summary_path = out.with_suffix(".json")
    if unit.cache_key and storage.exists(out) and storage.exists(summary_path):  # the summary: written last
        cached = RenderSummary.from_json(storage.read_text(summary_path))
        if cached.cache_key == unit.cache_key:
            cached.cached = True
            return cached
    storage.remove(summary_path)  # before the work file is rewritten (see extract_unit)
    counts: Counter[str] = Counter()
    rejects: list[dict[str, Any]] = []
    written = 0
    entry_hash = catalog.dataset(unit.dataset).fingerprint()
    language = catalog.dataset(unit.dataset).language
    if unit.early:
        # every example taken once, its copy rendered early: the phase-1 file is the output as it is
        plan = intermediate.read_table(unit.example_file, columns=["task", "rank", "order_key"]
                                       + (["document_id"] if unit.dropped else []))
        taken = _copies(plan, unit.selections, counts, unit.dropped)
        if bool((taken == 1).all()) and plan.column("order_key").null_count == 0:
            return RenderSummary(unit.output, unit.dataset, language, unit.example_file, plan.num_rows,
                                 dict(sorted(counts.items())), [], unit.cache_key, early_entry_hash=entry_hash)
        counts.clear()
    storage.makedirs(out.parent)
    # streamed: a worker holds one batch of records; the driver puts them in global order later
    with intermediate.writer(out, WORK_SCHEMA) as writer:
        for batch in intermediate.iter_batches(unit.example_file):
            table = pa.Table.from_batches([batch])
            taken = _copies(table, unit.selections, counts, unit.dropped)
            selected = taken > 0
            if unit.early:
                done = selected & table.column("order_key").is_valid().to_numpy(zero_copy_only=False)
                failed = selected & table.column("render_error").is_valid().to_numpy(zero_copy_only=False)
            else:
                done = failed = np.zeros(len(taken), dtype=bool)
            parts = []
            if done.any():
                parts.append(_early_records(table.filter(pa.array(done)), entry_hash))
            rows: list[dict[str, Any]] = []
            python = np.flatnonzero(failed | (taken > 1) | (selected & ~done & ~failed))
            for index, row in zip(python, table.take(python).to_pylist() if len(python) else [], strict=True):
                first = 1 if failed[index] or done[index] else 0  # copy 0 was rendered early
                if failed[index]:  # copy 0 failed early (e.g. too long): a reject, nothing to render again
                    counts[f"unrenderable.{row['task']}"] += 1
                    rejects.append(_reject_row(row, row["render_error"]))
                if int(taken[index]) <= first:
                    continue
                if row["fields"] is None:
                    raise RuntimeError(f"{unit.example_file}: example {row['example_id']} must be rendered again "
                                       "but phase 1 kept no fields (a bug in EarlyRender.keep_fields)")
                example = Example.from_row(row)
                for copy in range(first, int(taken[index])):
                    record, reason = render_example(example, copy, catalog, library, seed, unit.cross_lingual_ratio)
                    if record is None:
                        counts[f"unrenderable.{example.task}"] += 1
                        rejects.append(_reject(example, reason))
                    else:
                        rows.append(add_keys(record))
            if rows:
                parts.append(pa.Table.from_pylist(rows, schema=WORK_SCHEMA))
            if parts:  # one record batch per input batch (see FILE_BATCH_ROWS in convert.py)
                part = pa.concat_tables(parts).combine_chunks()
                writer.write_table(part, max_chunksize=max(part.num_rows, 1))
                written += part.num_rows
    summary = RenderSummary(unit.output, unit.dataset, language, str(out), written, dict(sorted(counts.items())),
                            rejects, unit.cache_key)
    storage.write_bytes(summary_path, summary.to_json().encode("utf-8"))
    return summary


def _copies(table: pa.Table, selections: dict[str, Selection] | None, counts: Counter[str],
            dropped: dict[str, str] | None = None) -> np.ndarray:
    """How many copies of each example of a batch the output takes; counts what is available and selected.
    Examples of ``dropped`` documents (the cleaning plan's) are none of these: counted per reason, not taken."""
    tasks = table.column("task")
    taken = np.zeros(table.num_rows, dtype=np.int64)
    ranks = table.column("rank").to_numpy()
    gone = np.zeros(table.num_rows, dtype=bool)
    for reason, removed in (removed_mask(table, dropped) if dropped else {}).items():
        removed = removed.to_numpy(zero_copy_only=False)
        for task, n in Counter(np.asarray(tasks.to_pylist(), dtype=object)[removed].tolist()).items():
            counts[f"{reason}.{task}"] += n
        gone |= removed
    for task in pc.unique(tasks).to_pylist():
        mask = pc.equal(tasks, task).to_numpy(zero_copy_only=False) & ~gone
        counts[f"available.{task}"] += int(mask.sum())
        if selections is None:
            taken[mask] = 1
        elif (selection := selections.get(task)) is not None:
            taken[mask] = copies(ranks[mask], selection)
        counts[f"selected.{task}"] += int(taken[mask].sum())
    return taken


# the columns records_of needs: from a phase-2 work file, and from a phase-1 file taken whole
LATE_RECORD_COLUMNS = list(RECORD_SCHEMA.names)
EARLY_RECORD_COLUMNS = [n for n in RECORD_SCHEMA.names if n != "provenance"] + ["document_id", "example_id",
                                                                                "source_file"]


def records_of(table: pa.Table, early_entry_hash: str | pa.Array | None = None) -> pa.Table:
    """RECORD_SCHEMA rows from rows of a phase-2 work file, or (``early_entry_hash`` given: one, or one
    per row) from rows of a phase-1 file whose first copies were rendered early."""
    if early_entry_hash is not None:
        table = _early_records(table, early_entry_hash)
    return table.select(RECORD_SCHEMA.names)


def _early_records(table: pa.Table, entry_hash: str | pa.Array) -> pa.Table:
    """Work rows from examples whose first copy phase 1 rendered: its columns plus the example's own."""
    table = table.combine_chunks()
    hashes = pa.array([entry_hash] * table.num_rows, pa.string()) if isinstance(entry_hash, str) else entry_hash
    provenance = pa.StructArray.from_arrays(
        [table.column(name).chunk(0) for name in ("document_id", "example_id", "source_file")] + [hashes],
        fields=list(PROVENANCE_TYPE))
    names = [n for n in WORK_SCHEMA.names if n == "provenance" or n in table.column_names]
    columns = {name: (provenance if name == "provenance" else table.column(name)) for name in names}
    return pa.Table.from_pydict(columns, schema=pa.schema([WORK_SCHEMA.field(n) for n in names]))


def _reject(example: Example, reason: str) -> dict[str, Any]:
    return Reject(example.dataset, example.split, example.source_file, None, example.document_id, example.task,
                  reason).to_dict()


def _reject_row(row: dict[str, Any], reason: str) -> dict[str, Any]:
    """The reject of an example file's row (its fields may not have been kept)."""
    return Reject(row["dataset"], row["split"], row["source_file"], None, row["document_id"], row["task"],
                  reason).to_dict()
