"""Write: a build's outputs: deduplicated, hash-ordered, fixed-size parquet shards and their manifest.

Every file is written under a temporary name and renamed, so a reader never sees half a shard, and
the bytes depend only on the rows (no timestamps), so the same inputs give the same checksums.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from curate.atomic_files import sha256_file
from curate.build import intermediate
from curate.build.render import EARLY_RECORD_COLUMNS, LATE_RECORD_COLUMNS, records_of
from schemas.instruction import RECORD_SCHEMA

# columns whose min/max a shard's metadata records (readers use them to skip row groups); prompts, answers
# and JSON columns get none: min/max of long texts say nothing, and computing them took a tenth of the write
STATISTICS_COLUMNS = ["id", "dataset", "split", "task", "subtask", "source_lang", "prompt_lang", "template_id",
                      "answer_format"]


def write_table_atomic(table: pa.Table, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    statistics = [c for c in STATISTICS_COLUMNS if c in table.column_names]
    pq.write_table(table, tmp, compression="zstd", write_statistics=statistics)
    os.replace(tmp, path)


@contextmanager
def write_memory_pool() -> Iterator[None]:
    """Arrow allocates from its jemalloc pool while the driver gathers and writes shards, where the wheel
    has one and ``ARROW_DEFAULT_MEMORY_POOL`` does not choose another. Each pass allocates and frees a few
    buffers of ~60 MB; with the default mimalloc pool the write step took 4.1 CPU-seconds for 1M records,
    with jemalloc 3.0 (same bytes written). The previous pool is restored afterwards."""
    if os.environ.get("ARROW_DEFAULT_MEMORY_POOL"):
        yield
        return
    try:
        pool = pa.jemalloc_memory_pool()
    except NotImplementedError:
        yield
        return
    previous = pa.default_memory_pool()
    pa.set_memory_pool(pool)
    try:
        yield
    finally:
        pa.set_memory_pool(previous)


@dataclass
class SourceBatch:
    """One record batch of an output's scratch files (memory-mapped), and what is constant in it."""

    batch: pa.RecordBatch
    entry_hash: str | None  # the catalog entry's hash when the batch is from a phase-1 file taken whole
    dataset: str
    split: str


@dataclass
class MergedOutput:
    """The rows of one output, left where they are, and ``order``: the row ids (numbered across the
    batches, in order) of the records kept, in global hash order. Records are gathered per shard."""

    batches: list[SourceBatch]
    starts: np.ndarray  # row id of each batch's first row
    order: np.ndarray
    written: Counter[tuple[str, str, str]]  # records kept per (dataset, task, source_lang)
    removed: Counter[str]  # duplicates removed per dataset

    @property
    def num_rows(self) -> int:
        return len(self.order)

    def locate(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(batch, row in batch) of row ids."""
        batch_ids = np.searchsorted(self.starts, ids, side="right") - 1
        return batch_ids, ids - self.starts[batch_ids]

    def splits(self) -> np.ndarray:
        """The split of every kept record, in order."""
        names = np.array([b.split for b in self.batches], dtype=object)
        return names[self.locate(self.order)[0]] if self.num_rows else np.empty(0, dtype=object)

    def gather(self, positions: np.ndarray) -> pa.Table:
        """The records at these positions of ``order``, in that order, as RECORD_SCHEMA rows.

        Rows are taken batch by batch (a take inside one batch is cheap; across the chunks of a whole
        output Arrow first concatenates them, ten times the cost), then put back in order."""
        batch_ids, rows = self.locate(self.order[positions])
        by_batch = np.argsort(batch_ids, kind="stable")
        batch_ids, rows = batch_ids[by_batch], rows[by_batch]
        cuts = [0, *(np.flatnonzero(np.diff(batch_ids)) + 1).tolist(), len(batch_ids)]
        # pieces of phase-1 files (with their entry hashes) and of phase-2 files are converted in bulk
        early: list[pa.RecordBatch] = []
        hashes: list[str] = []
        late: list[pa.RecordBatch] = []
        early_at: list[np.ndarray] = []
        late_at: list[np.ndarray] = []
        for start, end in pairwise(cuts):
            source = self.batches[int(batch_ids[start])]
            columns = LATE_RECORD_COLUMNS if source.entry_hash is None else EARLY_RECORD_COLUMNS
            piece = source.batch.select(columns).take(pa.array(rows[start:end]))
            if source.entry_hash is None:
                late.append(piece)
                late_at.append(by_batch[start:end])
            else:
                early.append(piece)
                hashes.extend([source.entry_hash] * piece.num_rows)
                early_at.append(by_batch[start:end])
        tables = []
        if early:
            tables.append(records_of(pa.Table.from_batches(early).combine_chunks(), pa.array(hashes, pa.string())))
        if late:
            tables.append(records_of(pa.Table.from_batches(late)))
        if not tables:
            return RECORD_SCHEMA.empty_table()
        table = pa.concat_tables(tables).combine_chunks()
        where = np.concatenate(early_at + late_at)  # the shard position of each row of ``table``
        back = np.empty_like(where)
        back[where] = np.arange(len(where))
        return table.take(pa.array(back))


PASS_ROWS = 100_000  # rows gathered at once by one thread when writing shards: bounds the driver's memory


def merge_and_dedup(sources: list[tuple[str, str | None]], dedup: bool) -> MergedOutput:
    """All rows of an output in global hash order; exact duplicates (normalized prompt + response)
    keep the copy with the smallest order key, and removals are counted per dataset. ``sources``:
    (path, None) for a phase-2 file, (path, catalog entry hash) for a phase-1 file taken whole.
    Only the two 64-bit key columns are read whole; the files stay memory-mapped."""
    batches: list[SourceBatch] = []
    order_keys, dedup_keys = [], []
    for path, entry_hash in sorted(sources):
        for batch in intermediate.iter_batches(path):
            if batch.num_rows:  # one file is one unit: one dataset and one split
                batches.append(SourceBatch(batch, entry_hash, batch.column("dataset")[0].as_py(),
                                           batch.column("split")[0].as_py()))
                order_keys.append(batch.column("order_key").to_numpy())
                dedup_keys.append(batch.column("dedup_key").to_numpy())
    sizes = np.array([b.batch.num_rows for b in batches], dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
    order_key = np.concatenate(order_keys) if order_keys else np.empty(0, np.uint64)
    # the global order. Keys are unique unless a record id repeats (a document twice in one split, or a
    # 64-bit collision); only then is the sort redone stably, so that ties keep their source order. numpy's
    # default sort is several times faster than its stable one.
    order = np.argsort(order_key)
    if len(order) > 1 and bool((np.diff(order_key[order]) == 0).any()):
        order = np.argsort(order_key, kind="stable")
    dropped = np.empty(0, dtype=np.int64)
    if dedup and len(order):
        # within a duplicate group, keep the record that comes first in the global order
        in_order = np.concatenate(dedup_keys)[order]
        grouped = np.argsort(in_order)
        sorted_keys = in_order[grouped]
        group_starts = np.flatnonzero(np.concatenate([[True], sorted_keys[1:] != sorted_keys[:-1]]))
        keep = np.zeros(len(order), dtype=bool)
        keep[np.minimum.reduceat(grouped, group_starts)] = True  # the earliest position of each group
        dropped, order = order[~keep], order[keep]
    merged = MergedOutput(batches, starts, order, Counter(), Counter())
    # counts: every row of a batch, less the duplicates dropped from it
    drop_batch, drop_row = merged.locate(np.sort(dropped))
    for index, source in enumerate(batches):
        gone = drop_row[drop_batch == index]
        table = pa.table({"task": source.batch.column("task"), "lang": source.batch.column("source_lang")})
        if len(gone):
            keep = np.ones(source.batch.num_rows, dtype=bool)
            keep[gone] = False
            table = table.filter(pa.array(keep))
            merged.removed[source.dataset] += len(gone)
        for row in table.group_by(["task", "lang"]).aggregate([("task", "count")]).to_pylist():
            merged.written[(source.dataset, row["task"], row["lang"])] += row["task_count"]
    return merged


def write_shards(merged: MergedOutput, out_dir: Path, rows_per_shard: int) -> list[dict[str, Any]]:
    """Split the ordered rows into shards of ``rows_per_shard`` rows per split; return manifest rows."""
    jobs: list[tuple[str, str, np.ndarray]] = []
    splits = merged.splits()
    for split in sorted(set(splits.tolist())):
        indices = np.flatnonzero(splits == split)
        count = max(1, -(-len(indices) // rows_per_shard))
        for index in range(count):
            jobs.append((f"{split}-{index:05d}-of-{count:05d}.parquet", split,
                         indices[index * rows_per_shard:(index + 1) * rows_per_shard]))

    def write(name: str, split: str, chunk: pa.Table) -> dict[str, Any]:
        write_table_atomic(chunk.cast(RECORD_SCHEMA), out_dir / name)
        return {"path": name, "split": split, "rows": chunk.num_rows, "sha256": sha256_file(out_dir / name)}

    def write_pass(group: list[tuple[str, str, np.ndarray]]) -> list[dict[str, Any]]:
        table = merged.gather(np.concatenate([indices for _, _, indices in group]))
        done, offset = [], 0
        for name, split, indices in group:
            done.append(write(name, split, table.slice(offset, len(indices))))
            offset += len(indices)
        return done

    # consecutive shards are gathered together, up to PASS_ROWS rows, so each source batch is cut once per
    # pass rather than once per shard. Gathering, parquet compression and hashing release the GIL: passes
    # run in threads, one per core. Every shard has fixed bytes, whatever thread writes it.
    groups: list[list[tuple[str, str, np.ndarray]]] = []
    for job in jobs:
        if groups and sum(len(j[2]) for j in groups[-1]) + len(job[2]) <= PASS_ROWS:
            groups[-1].append(job)
        else:
            groups.append([job])
    with ThreadPoolExecutor(max_workers=max(1, min(len(groups), os.cpu_count() or 1))) as pool:
        return [row for done in pool.map(write_pass, groups) for row in done]


def clear_stale(out_dir: Path, keep: set[str]) -> None:
    """Remove shards of an earlier build that this build did not write (e.g. fewer shards now)."""
    if out_dir.exists():
        for path in out_dir.glob("*.parquet"):
            if path.name not in keep:
                path.unlink()
