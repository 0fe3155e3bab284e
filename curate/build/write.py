"""Write, in the workers: order, deduplicate and shard one output in P partitions of the order-key range.

The global order is by 64-bit order key (ties: source order), so the key range cut in P equal parts gives
P partitions whose concatenation, in partition order, is that order. Five kinds of task, each run by any
worker on files under ``OUT/.work/write/<output>`` (the driver only adds up counts and plans shards):

1. ``IndexSource`` (this and the next three in ``partitions.py``): one intermediate file's keys in key
   order, one record batch per partition, so that later tasks read one slice per file.
2. ``OrderPartition``: the rows of one key range, in order (locations, not records), and the dedup keys
   that occur first in it, cut into P buckets by dedup key.
3. ``DedupBucket``: for the dedup keys of one bucket, which partitions hold a copy that an earlier
   partition has too (the first copy in the global order stays).
4. ``FinishPartition``: the partition less its duplicates, as records in global order, split by split
   (one rows file per partition), with rows per split and the counts.
5. ``WriteShard``: one shard of ``rows_per_shard`` rows of a split: contiguous slices of the one or two
   partitions' rows files that hold them, written as parquet.

Each file of a task is read once per task, so the write step's work grows with the rows, and with
partitions x files only by one small read each (a shard used to gather from every batch of every file).
Each step's memory is bounded by its partition (or one shard), not by the output, and the bytes of every
shard are the same for any P and any number of workers: the same rows in the same order as one pass.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from curate import storage
from curate.atomic_files import sha256_file
from curate.build import intermediate
from curate.build.partitions import (
    DedupBucket,
    FinishPartition,
    IndexSource,
    OrderPartition,
    OutputSources,
    PartitionCounts,
)
from schemas.instruction import RECORD_SCHEMA

# columns whose min/max a shard's metadata records (readers use them to skip row groups); prompts, answers
# and JSON columns get none: min/max of long texts say nothing, and computing them took a tenth of the write
STATISTICS_COLUMNS = ["id", "dataset", "split", "task", "subtask", "source_lang", "prompt_lang", "template_id",
                      "answer_format"]


# rows per parquet row group: a shard of the default 5,000 rows is one group, a larger shard several, so that
# a reader of some of its rows (the training job's pack windows, a streaming `datasets` reader) decodes
# little more than those rows
ROW_GROUP_ROWS = 5_000


def write_table_atomic(table: pa.Table, path: Path) -> None:
    statistics = [c for c in STATISTICS_COLUMNS if c in table.column_names]
    with storage.output_file(path) as tmp:
        pq.write_table(table, tmp, compression="zstd", write_statistics=statistics, row_group_size=ROW_GROUP_ROWS)


@contextmanager
def write_memory_pool() -> Iterator[None]:
    """Arrow allocates from its jemalloc pool while a worker runs a write task, where the wheel
    has one and ``ARROW_DEFAULT_MEMORY_POOL`` does not choose another. Each pass allocates and frees a few
    buffers of ~60 MB; with the default mimalloc pool the write step took 4.1 CPU-seconds for 1M records,
    with jemalloc 3.0 (same bytes written). The previous pool is restored afterwards, and what the task
    freed goes back to the system."""
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
        pool.release_unused()  # each task starts from what it needs, not from what the last one freed


def clear_stale(out_dir: Path, keep: set[str]) -> None:
    """Remove shards of an earlier build that this build did not write (e.g. fewer shards now)."""
    for name in storage.list_files(out_dir, ".parquet"):
        if name not in keep:
            storage.remove(out_dir / name)


@dataclass(frozen=True)
class WriteShard:
    """Rows ``[start, stop)`` of a split, in order, as the parquet shard ``name``; ``pieces``: (partition,
    first, last) rows of the partition's rows file that hold them (a split's rows are contiguous there)."""

    spec: OutputSources
    out_dir: str
    name: str
    split: str
    pieces: tuple[tuple[int, int, int], ...]

    def run(self) -> dict[str, Any]:
        spec = self.spec  # (the worker runs every write task in ``write_memory_pool``)
        parts = [intermediate.read_table(spec.rows_file(p)).slice(first, last - first)
                 for p, first, last in self.pieces]
        table = pa.concat_tables([RECORD_SCHEMA.empty_table(), *parts]).combine_chunks()
        path = Path(self.out_dir) / self.name
        write_table_atomic(table.cast(RECORD_SCHEMA), path)
        return {"path": self.name, "split": self.split, "rows": table.num_rows, "sha256": sha256_file(path)}


# what a worker's ``write_step`` runs
WriteTask = IndexSource | OrderPartition | DedupBucket | FinishPartition | WriteShard


def plan_shards(spec: OutputSources, counts: list[PartitionCounts], out_dir: str,
                rows_per_shard: int) -> list[WriteShard]:
    """The shards of every split (in split order), each with the partitions' pieces it takes; from the
    partitions' row counts alone."""
    counts = sorted(counts, key=lambda c: c.partition)
    shards = []
    for split in sorted({s for c in counts for s, n in c.rows_per_split.items() if n}):
        sizes = [c.rows_per_split.get(split, 0) for c in counts]
        starts = np.concatenate([[0], np.cumsum(sizes)]).tolist()
        # where the split's rows begin in each partition's rows file (splits are written in name order)
        offsets = [sum(n for s, n in c.rows_per_split.items() if s < split) for c in counts]
        total = starts[-1]
        number = max(1, -(-total // rows_per_shard))
        for index in range(number):
            lo, hi = index * rows_per_shard, min(total, (index + 1) * rows_per_shard)
            pieces = tuple((c.partition, o + max(lo, a) - a, o + min(hi, b) - a)
                           for c, o, a, b in zip(counts, offsets, starts, starts[1:], strict=False)
                           if max(lo, a) < min(hi, b))
            shards.append(WriteShard(spec, out_dir, f"{split}-{index:05d}-of-{number:05d}.parquet", split, pieces))
    return shards


@dataclass
class WrittenOutput:
    """One output as written: its shards' manifest rows, in split then index order, the records kept per
    (dataset, task, language), and the duplicates removed per dataset."""

    shards: list[dict[str, Any]]
    written: Counter[tuple[str, str, str]]
    removed: Counter[str]


def write_output(pool: Any, spec: OutputSources, out_dir: Path, rows_per_shard: int) -> WrittenOutput:
    """Write one output through the executor ``pool`` (``write_step`` of its workers). The driver holds only
    counts per partition and the shard plan."""
    storage.remove_tree(spec.folder)  # files of an interrupted write, maybe with another P
    storage.makedirs(spec.folder)
    storage.makedirs(out_dir)

    def each(tasks: list[Any]) -> list[Any]:
        return pool.map("write_step", tasks, lambda _: None)

    indexed = each([IndexSource(spec, s) for s in range(len(spec.sources))])
    spec = replace(spec, info=tuple(sorted(indexed, key=lambda info: info.source)))
    each([OrderPartition(spec, p) for p in range(spec.partitions)])
    if spec.dedup:
        each([DedupBucket(spec, q) for q in range(spec.partitions)])
    counts: list[PartitionCounts] = each([FinishPartition(spec, p) for p in range(spec.partitions)])
    plan = plan_shards(spec, counts, str(out_dir), rows_per_shard)
    done = {row["path"]: row for row in each(plan)}
    written: Counter[tuple[str, str, str]] = Counter()
    removed: Counter[str] = Counter()
    for c in counts:
        written.update(c.written)
        removed.update(c.removed)
    return WrittenOutput([done[shard.name] for shard in plan], written, removed)


ROWS_PER_PARTITION = 125_000  # rows of an output per write partition: what one write task holds as keys and records
# partitions of one output at most: the dedup step writes P x P small key files (65,536 at 256), so beyond
# 32M rows partitions grow instead
MAX_PARTITIONS = 256


def partitions_for(rows: int, workers: int) -> int:
    """How many key-range partitions an output of ``rows`` rows is written in (any number gives the same
    bytes): enough that no task holds more than ~ROWS_PER_PARTITION rows, so that a worker's memory does not
    grow with the output (up to MAX_PARTITIONS). ``workers`` does not matter: a partition count tied to it
    (it was at most four per worker) let partitions, and the workers' peak memory, grow with the output."""
    del workers
    return max(1, min(MAX_PARTITIONS, -(-rows // ROWS_PER_PARTITION)))
