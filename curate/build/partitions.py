"""Write, first half: one output's rows ordered and deduplicated in P partitions of the order-key range.

The global order is by 64-bit order key (ties: source order), so the key range cut in P equal parts gives
P partitions whose concatenation, in partition order, is that order. ``OrderPartition`` puts the rows of one
key range in order (locations, not records) and cuts the dedup keys that occur in it into P buckets;
``DedupBucket`` settles, for one bucket of keys, which partitions drop a copy that an earlier partition
has (the first copy in the global order stays); ``FinishPartition`` keeps the rest and counts them. The
shards are written from the partitions by ``write.py``. Files live under ``OUT/.work/write/<output>``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from curate import storage
from curate.build import intermediate

KEY_SPACE = 1 << 64


@dataclass(frozen=True)
class OutputSources:
    """One output's intermediate files, in a fixed order: (path, None) for a phase-2 file, (path, catalog
    entry hash) for a phase-1 file taken whole. Each file is one unit: one dataset and one split."""

    output: str
    sources: tuple[tuple[str, str | None], ...]
    dedup: bool
    partitions: int
    folder: str  # where the partition files go

    def file(self, name: str) -> Path:
        return Path(self.folder) / name

    def key_range(self, partition: int) -> tuple[int, int]:
        return partition * KEY_SPACE // self.partitions, (partition + 1) * KEY_SPACE // self.partitions

    def batches(self) -> SourceBatches:
        """(source index, record batch) of every non-empty batch, numbered in order across the sources."""
        return SourceBatches([path for path, _ in self.sources])


class SourceBatches:
    """The non-empty record batches of an output's intermediate files, numbered across them, with one file
    memory-mapped at a time: a task that walks them in order holds the pages of one file, not of the output
    (pages of a memory map it touched count as its memory until the map is released)."""

    def __init__(self, paths: list[str]) -> None:
        self.paths = paths
        counts = [sum(1 for batch in intermediate.iter_batches(path) if batch.num_rows) for path in paths]
        self.starts = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64) if paths else np.zeros(1, np.int64)
        self.source = -1
        self.loaded: list[pa.RecordBatch] = []

    def __len__(self) -> int:
        return int(self.starts[-1])

    def __getitem__(self, number: int) -> tuple[int, pa.RecordBatch]:
        if not 0 <= number < len(self):
            raise IndexError(number)
        source = int(np.searchsorted(self.starts, number, side="right")) - 1
        if source != self.source:
            self.loaded = []  # the previous file's map goes with its batches
            self.loaded = [b for b in intermediate.iter_batches(self.paths[source]) if b.num_rows]
            self.source = source
        return source, self.loaded[number - int(self.starts[source])]

    def __iter__(self) -> Iterator[tuple[int, pa.RecordBatch]]:
        return (self[number] for number in range(len(self)))


@dataclass
class PartitionCounts:
    """What the driver learns of one finished partition."""

    partition: int
    rows_per_split: dict[str, int]
    written: Counter[tuple[str, str, str]]  # records kept per (dataset, task, source_lang)
    removed: Counter[str]  # duplicates removed per dataset


@dataclass(frozen=True)
class OrderPartition:
    spec: OutputSources
    partition: int

    def run(self) -> None:
        lo, hi = self.spec.key_range(self.partition)
        keys, dedups, where = [], [], []
        for number, (_, batch) in enumerate(self.spec.batches()):
            order_key = batch.column("order_key").to_numpy()
            inside = np.flatnonzero((order_key >= np.uint64(lo)) & (order_key <= np.uint64(hi - 1)))
            if len(inside):
                keys.append(order_key[inside])
                dedups.append(batch.column("dedup_key").to_numpy()[inside])
                where.append(np.stack([np.full(len(inside), number, np.int64), inside.astype(np.int64)], axis=1))
        order_key = np.concatenate(keys) if keys else np.empty(0, np.uint64)
        dedup_key = np.concatenate(dedups) if dedups else np.empty(0, np.uint64)
        location = np.concatenate(where) if where else np.empty((0, 2), np.int64)
        order = np.argsort(order_key, kind="stable")  # ties keep their source order
        storage.save_npz(self.spec.file(f"p{self.partition:05d}.order.npz"), dedup_key=dedup_key[order],
                         location=location[order])
        if self.spec.dedup:
            firsts = np.unique(dedup_key)
            bucket = firsts % np.uint64(self.spec.partitions)
            for q in range(self.spec.partitions):
                storage.save_npy(self.spec.file(f"p{self.partition:05d}.q{q:05d}.npy"), firsts[bucket == q])


@dataclass(frozen=True)
class DedupBucket:
    spec: OutputSources
    bucket: int

    def run(self) -> None:
        parts = [storage.load_npy(self.spec.file(f"p{p:05d}.q{self.bucket:05d}.npy"))
                 for p in range(self.spec.partitions)]
        owner = np.concatenate([np.full(len(k), p, np.int64) for p, k in enumerate(parts)])
        keys = np.concatenate(parts)
        # partitions are in order: a key's first partition holds its first copy; later ones drop theirs
        _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
        later = owner[first][inverse.reshape(-1)] < owner
        for p in range(self.spec.partitions):
            storage.save_npy(self.spec.file(f"drop.p{p:05d}.q{self.bucket:05d}.npy"), keys[later & (owner == p)])


@dataclass(frozen=True)
class FinishPartition:
    spec: OutputSources
    partition: int

    def run(self) -> PartitionCounts:
        spec = self.spec
        data = storage.load_npy(spec.file(f"p{self.partition:05d}.order.npz"))
        dedup_key, location = data["dedup_key"], data["location"]
        keep = np.ones(len(dedup_key), dtype=bool)
        if spec.dedup and len(dedup_key):
            keep[:] = False
            keep[np.unique(dedup_key, return_index=True)[1]] = True  # the first copy in this partition
            drops = [storage.load_npy(spec.file(f"drop.p{self.partition:05d}.q{q:05d}.npy"))
                     for q in range(spec.partitions)]
            keep &= ~np.isin(dedup_key, np.concatenate(drops))  # an earlier partition has it
        batches = spec.batches()
        kept = location[keep]
        splits = np.array([b.column("split")[0].as_py() for _, b in batches], dtype=object)
        storage.save_npz(spec.file(f"p{self.partition:05d}.kept.npz"), location=kept,
                         split=splits[kept[:, 0]].astype(str) if len(kept) else np.empty(0, str))
        counts = PartitionCounts(self.partition, dict(Counter(splits[kept[:, 0]].tolist())), Counter(), Counter())
        # per batch, in batch order: its kept rows (in partition order) and how many it had; one sort, not a
        # scan of the partition per batch (that grew with batches x rows)
        had = np.bincount(location[:, 0], minlength=len(batches)) if len(location) else np.zeros(0, np.int64)
        by_batch = kept[np.argsort(kept[:, 0], kind="stable")]
        cuts = np.searchsorted(by_batch[:, 0], np.arange(len(had) + 1))
        for number in np.flatnonzero(had).tolist():
            _, batch = batches[number]
            dataset = batch.column("dataset")[0].as_py()
            rows = by_batch[cuts[number]:cuts[number + 1], 1]
            counts.removed[dataset] += int(had[number]) - len(rows)
            if not len(rows):
                continue
            table = pa.table({"task": batch.column("task"), "lang": batch.column("source_lang")}).take(rows)
            for row in table.group_by(["task", "lang"]).aggregate([("task", "count")]).to_pylist():
                counts.written[(dataset, row["task"], row["lang"])] += row["task_count"]
        counts.removed = +counts.removed
        return counts
