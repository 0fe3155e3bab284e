"""Write, first half: one output's rows ordered and deduplicated in P partitions of the order-key range.

The global order is by 64-bit order key (ties: source order), so the key range cut in P equal parts gives
P partitions whose concatenation, in partition order, is that order. ``IndexSource`` sorts one
intermediate file's keys into one record batch per partition; ``OrderPartition`` merges a key range's batch
of every file into order (locations, not records) and cuts the dedup keys that occur in it into P buckets;
``DedupBucket`` settles, for one bucket of keys, which partitions drop a copy that an earlier partition
has (the first copy in the global order stays); ``FinishPartition`` keeps the rest, counts them and writes
their records in order. The shards are sliced from those by ``write.py``. Files live under
``OUT/.work/write/<output>``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from curate import storage
from curate.build import intermediate
from curate.build.render import EARLY_RECORD_COLUMNS, LATE_RECORD_COLUMNS, records_of
from schemas.instruction import RECORD_SCHEMA

KEY_SPACE = 1 << 64


@dataclass(frozen=True)
class SourceInfo:
    """What the write step needs to know of one intermediate file without opening it (from ``IndexSource``)."""

    source: int  # its index in ``OutputSources.sources`` (the executor returns results as they finish)
    split: str
    dataset: str
    rows: int


@dataclass(frozen=True)
class OutputSources:
    """One output's intermediate files, in a fixed order: (path, None) for a phase-2 file, (path, catalog
    entry hash) for a phase-1 file taken whole. Each file is one unit: one dataset and one split."""

    output: str
    sources: tuple[tuple[str, str | None], ...]
    dedup: bool
    partitions: int
    folder: str  # where the partition files go
    info: tuple[SourceInfo, ...] = ()  # per source, once ``IndexSource`` has run (``write_output`` sets it)

    def file(self, name: str) -> Path:
        return Path(self.folder) / name

    def key_range(self, partition: int) -> tuple[int, int]:
        return partition * KEY_SPACE // self.partitions, (partition + 1) * KEY_SPACE // self.partitions

    def keys_file(self, source: int) -> Path:
        """A source's rows in key order, one record batch per partition (``IndexSource``)."""
        return self.file(f"s{source:05d}.keys{intermediate.SUFFIX}")

    def rows_file(self, partition: int) -> Path:
        """A partition's records as the shards take them: split by split, each in global order."""
        return self.file(f"p{partition:05d}.rows{intermediate.SUFFIX}")


KEYS_SCHEMA = pa.schema([("row", pa.int64()), ("order_key", pa.uint64()), ("dedup_key", pa.uint64())])


@dataclass(frozen=True)
class IndexSource:
    """One source's keys sorted by order key (ties: file order) and cut into the P key ranges: batch p of its
    keys file holds the rows of partition p, so a partition task reads one slice per source, never a file's
    every batch (that made the write step grow with partitions and shards x files)."""

    spec: OutputSources
    source: int

    def run(self) -> SourceInfo:
        spec = self.spec
        table = intermediate.read_table(spec.sources[self.source][0], ["split", "dataset", "order_key", "dedup_key"])
        order_key = table.column("order_key").to_numpy()
        row = np.argsort(order_key, kind="stable")
        keys = pa.record_batch([pa.array(row, pa.int64()), pa.array(order_key[row], pa.uint64()),
                                pa.array(table.column("dedup_key").to_numpy()[row], pa.uint64())], schema=KEYS_SCHEMA)
        lows = np.array([spec.key_range(p)[0] for p in range(spec.partitions)], dtype=np.uint64)
        starts = [*np.searchsorted(order_key[row], lows).tolist(), len(row)]
        with intermediate.writer(spec.keys_file(self.source), KEYS_SCHEMA) as out:
            for p in range(spec.partitions):  # empty batches too: batch p is partition p
                out.write_batch(keys.slice(starts[p], starts[p + 1] - starts[p]))
        if not table.num_rows:
            return SourceInfo(self.source, "", "", 0)
        return SourceInfo(self.source, table.column("split")[0].as_py(), table.column("dataset")[0].as_py(),
                          table.num_rows)


def first_of_runs(ordered: np.ndarray) -> np.ndarray:
    """Which elements of a sorted array differ from the one before: the first of each run of equal values.
    (A sort and one comparison: ``np.unique`` hashes, several times slower on 64-bit keys.)"""
    first = np.ones(len(ordered), dtype=bool)
    first[1:] = ordered[1:] != ordered[:-1]
    return first


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
        keys, dedups, where = [], [], []
        for source in range(len(self.spec.sources)):  # each source's slice of this key range, in key order
            batch = intermediate.read_batch(self.spec.keys_file(source), self.partition)
            if batch.num_rows:
                keys.append(batch.column("order_key").to_numpy())
                dedups.append(batch.column("dedup_key").to_numpy())
                where.append(np.stack([np.full(batch.num_rows, source, np.int64), batch.column("row").to_numpy()],
                                      axis=1))
        order_key = np.concatenate(keys) if keys else np.empty(0, np.uint64)
        dedup_key = np.concatenate(dedups) if dedups else np.empty(0, np.uint64)
        location = np.concatenate(where) if where else np.empty((0, 2), np.int64)
        order = np.argsort(order_key, kind="stable")  # ties keep their source (file, then row) order
        storage.save_npz(self.spec.file(f"p{self.partition:05d}.order.npz"), dedup_key=dedup_key[order],
                         location=location[order])
        if self.spec.dedup:
            ordered = np.sort(dedup_key)
            firsts = ordered[first_of_runs(ordered)]
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
        order = np.argsort(keys, kind="stable")  # a key's copies, in partition order
        first = first_of_runs(keys[order])
        later = np.empty(len(keys), dtype=bool)
        later[order] = owner[order][first][np.cumsum(first) - 1] < owner[order]
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
            order = np.argsort(dedup_key, kind="stable")
            keep[order[first_of_runs(dedup_key[order])]] = True  # the first copy in this partition
            drops = [storage.load_npy(spec.file(f"drop.p{self.partition:05d}.q{q:05d}.npy"))
                     for q in range(spec.partitions)]
            dropped = np.sort(np.concatenate(drops))
            if len(dropped):  # an earlier partition has it
                keep &= dropped[np.minimum(np.searchsorted(dropped, dedup_key), len(dropped) - 1)] != dedup_key
        kept = location[keep]
        sources = len(spec.sources)
        had = np.bincount(location[:, 0], minlength=sources)
        left = np.bincount(kept[:, 0], minlength=sources)
        removed: Counter[str] = Counter()
        for source in np.flatnonzero(had - left).tolist():
            removed[spec.info[source].dataset] += int(had[source] - left[source])
        pieces, position = gather(spec, kept)
        names = sorted({info.split for info in spec.info})  # splits are written in name order
        split = np.array([names.index(info.split) for info in spec.info], dtype=np.int64)[kept[:, 0]]
        counts = PartitionCounts(self.partition, {}, Counter(), removed)
        table = pa.concat_tables([RECORD_SCHEMA.empty_table(), *pieces])  # no copy: chunks of the pieces
        for row in table.group_by(["dataset", "task", "source_lang"]).aggregate([("task", "count")]).to_pylist():
            counts.written[(row["dataset"], row["task"], row["source_lang"])] += row["task_count"]
        with intermediate.writer(spec.rows_file(self.partition), RECORD_SCHEMA) as out:
            for code in np.unique(split).tolist():  # split by split, each in partition order
                rows = position[split == code]
                counts.rows_per_split[names[code]] = len(rows)
                for start in range(0, len(rows), ROWS_PER_BATCH):  # a batch at a time: one copy of the records
                    out.write_table(take_rows(pieces, rows[start:start + ROWS_PER_BATCH]))
        return counts


ROWS_PER_BATCH = 32_768  # records per batch of a partition's rows file (one batch is copied at a time)


def gather(spec: OutputSources, location: np.ndarray) -> tuple[list[pa.Table], np.ndarray]:
    """The records at these (source, row) locations as RECORD_SCHEMA rows, one table per source that has
    some (one file memory-mapped at a time), and where each location's record is in their concatenation.
    Phase-1 pieces (rendered early) become records in bulk as phase-2 pieces are."""
    by_source = np.lexsort((location[:, 1], location[:, 0])) if len(location) else np.empty(0, np.int64)
    position = np.empty(len(location), np.int64)
    position[by_source] = np.arange(len(location))
    ordered = location[by_source]
    cuts = np.searchsorted(ordered[:, 0], np.arange(len(spec.sources) + 1))
    pieces = []
    for source in np.flatnonzero(np.diff(cuts)).tolist():
        path, entry_hash = spec.sources[source]
        columns = LATE_RECORD_COLUMNS if entry_hash is None else EARLY_RECORD_COLUMNS
        rows = ordered[cuts[source]:cuts[source + 1], 1]
        piece = intermediate.read_table(path, columns).take(pa.array(rows))
        pieces.append(records_of(piece, entry_hash).cast(RECORD_SCHEMA))
    return pieces, position


def take_rows(pieces: list[pa.Table], wanted: np.ndarray) -> pa.Table:
    """The rows at these positions of the pieces' concatenation, in that order: a take from each piece, then
    one that puts them in order. (A take from the concatenation would join all its chunks for every call,
    and joining them once would hold the partition's records twice.)"""
    starts = np.cumsum([0] + [t.num_rows for t in pieces])[:-1]
    piece = np.searchsorted(starts, wanted, side="right") - 1
    by_piece = np.argsort(piece, kind="stable")
    cuts = np.searchsorted(piece[by_piece], np.arange(len(pieces) + 1))
    parts = [RECORD_SCHEMA.empty_table()]
    for k in np.flatnonzero(np.diff(cuts)).tolist():
        parts.append(pieces[k].take(pa.array(wanted[by_piece[cuts[k]:cuts[k + 1]]] - starts[k])))
    back = np.empty(len(by_piece), np.int64)
    back[by_piece] = np.arange(len(by_piece))
    return pa.concat_tables(parts).combine_chunks().take(pa.array(back))
