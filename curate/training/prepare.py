"""Streaming preparation of a stage's training rows on Ray Data workers: the driver never holds a record.

The stage's train records, taken in manifest order (shards as listed, rows in file order), are cut into
*pack windows* of ``pack_window_records`` consecutive records. The windows come from the manifest's row
counts alone, never from how Ray splits blocks, so the rows do not depend on the number of workers. Each
window is one unit of work of a ``map_batches`` actor: it reads its slice of the shards, tokenizes with the
model's chat template (assistant-only labels), and packs with the same best-fit-decreasing rule as
``data.pack_examples`` (or one row per example without packing). A window covering the whole stage gives
exactly the rows of the in-memory path (``data.prepare_stage_rows``); larger stages are packed per window.

Windows are coarse on purpose (stack notes: fine-grained Ray Data on few cores costs more than it gives) and
need no shuffle. Row ``(window, pos)`` has the global index ``offsets[window] + pos``; the driver learns the
offsets, the statistics and the row lengths from a few integer columns, and training workers keep only the
rows their rank needs (``RankRows``).
"""

from __future__ import annotations

import bisect
import gc
import logging
import re
import resource
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from curate.huge_pages import avoid_huge_pages
from curate.training.data import (
    DataError,
    Example,
    PackedRow,
    TokenizeStats,
    efficiency_of,
    pack_groups,
    read_manifest,
    rows_of,
    tokenize_records,
)

log = logging.getLogger(__name__)

STATS_POS = -1  # the ``pos`` of each window's statistics row (empty lists; skipped by training)
STAT_COLUMNS = (
    "records", "truncated", "dropped_no_assistant_tokens", "worker_peak_rss_bytes", "worker_anon_rss_bytes",
    "worker_pid", "worker_cpu_seconds",
)  # fmt: skip


@dataclass(frozen=True)
class ShardSlice:
    """Rows ``[start, stop)`` of one parquet shard."""

    path: str
    start: int
    stop: int


def plan_windows(build_dir: str | Path, stage: str, window_records: int) -> list[list[ShardSlice]]:
    """The stage's train records in manifest order, cut into windows of ``window_records`` records."""
    if window_records < 1:
        raise DataError(f"pack_window_records must be >= 1, got {window_records}; fix the training config")
    manifest, folder = read_manifest(build_dir, stage)
    windows: list[list[ShardSlice]] = [[]]
    filled = 0
    for shard in manifest["shards"]:
        if shard.get("split") != "train":
            continue
        path = folder / shard["path"]
        if not path.is_file():
            raise DataError(f"shard {path} listed in {folder / 'manifest.json'} is missing; rebuild the stage")
        rows, start = int(shard.get("rows", 0)), 0
        while start < rows:
            if filled == window_records:
                windows.append([])
                filled = 0
            take = min(rows - start, window_records - filled)
            windows[-1].append(ShardSlice(str(path), start, start + take))
            start += take
            filled += take
    if not windows[0]:
        raise DataError(
            f"{folder / 'manifest.json'} has no rows with split in ['train']: stage {stage!r} is empty; "
            "check the catalog's stage definition or pick another split"
        )
    return windows


class ShardReader:
    """Reads the records of windows, decoding only the row groups of a shard that a window needs and keeping
    the last ones it decoded.

    A shard larger than a window is cut across several windows, and an actor usually gets consecutive ones;
    decoding the whole shard for each of them cost more CPU than the packing (0.58 s per window for a
    100,000-row shard). Both actors get windows of the same shard, so a shard written as one row group is
    decoded whole by each. `curate build` writes row groups of at most 5,000 rows
    (``build.write.ROW_GROUP_ROWS``), and then an actor decodes little more than its windows' rows. Only one
    decoded span is kept, so an actor's memory stays bounded by a shard.
    """

    def __init__(self) -> None:
        self._span: tuple[str, int, int] | None = None  # (path, first row, end row) of the decoded table
        self._table: Any = None
        # the open shard (the last one only: a window's shards come in order): path, ParquetFile, and the
        # first row of each row group followed by the row count
        self._shard: tuple[str, Any, list[int]] | None = None

    def _open(self, path: str) -> tuple[Any, list[int]]:
        """The shard's ParquetFile and row-group starts, opened (its footer read) once per shard."""
        if self._shard is None or self._shard[0] != path:
            from curate import storage

            file = storage.parquet_file(path)
            starts = [0]
            for index in range(file.metadata.num_row_groups):
                starts.append(starts[-1] + file.metadata.row_group(index).num_rows)
            self._shard = (path, file, starts)
        return self._shard[1], self._shard[2]

    def rows(self, part: ShardSlice) -> Any:
        """Rows ``[start, stop)`` of a shard as Arrow (``id``, ``messages``), checked against its size."""
        file, starts = self._open(part.path)
        if starts[-1] < part.stop:
            raise DataError(
                f"{part.path} has {starts[-1]} rows but its manifest says at least {part.stop}; rebuild the stage"
            )
        span = self._span
        if span is None or span[0] != part.path or not span[1] <= part.start <= part.stop <= span[2]:
            first = bisect.bisect_right(starts, part.start) - 1
            last = bisect.bisect_left(starts, part.stop)  # (exclusive) the row group after the slice's last row
            self._span, self._table = None, None  # drop the old span before decoding the next
            groups = list(range(first, max(last, first + 1)))
            self._table = file.read_row_groups(groups, columns=["id", "messages"])
            span = self._span = (part.path, starts[first], starts[groups[-1] + 1])
        return self._table.slice(part.start - span[1], part.stop - part.start)

    def records(self, window: Sequence[ShardSlice]) -> list[dict[str, Any]]:
        """The records of one window, checked against the manifest's row counts."""
        records: list[dict[str, Any]] = []
        for part in window:
            records.extend(self.rows(part).to_pylist())
        return records


def read_window(window: Sequence[ShardSlice]) -> list[dict[str, Any]]:
    """The records of one window, checked against the manifest's row counts."""
    return ShardReader().records(window)


def window_examples(
    tokenizer: Any, records: list[dict[str, Any]], max_seq_len: int, packing: bool
) -> tuple[list[Example], list[list[int]], TokenizeStats]:
    """Tokenize one window's records and group them into rows exactly as the in-memory path does a whole
    stage: the examples, each row as indices into them (``data.pack_groups``, or one example a row without
    packing), and the statistics."""
    records.sort(key=lambda r: r["id"])
    examples, stats = tokenize_records(tokenizer, records, max_seq_len)
    groups = pack_groups(examples, max_seq_len) if packing else [[i] for i in range(len(examples))]
    return examples, groups, stats


def window_rows(
    tokenizer: Any, records: list[dict[str, Any]], max_seq_len: int, packing: bool
) -> tuple[list[PackedRow], TokenizeStats]:
    """One window's rows as ``PackedRow`` (the reference the tests compare the workers' tables with)."""
    examples, groups, stats = window_examples(tokenizer, records, max_seq_len, packing)
    return rows_of(examples, groups), stats


def window_table(
    window: int, examples: Sequence[Example], groups: Sequence[Sequence[int]], stats: TokenizeStats
) -> Any:
    """One window's rows as Arrow, preceded by its statistics row (``pos == STATS_POS``), which also says
    which worker process made it, its peak memory and the CPU time it has used so far.

    The token columns are built flat, straight from the examples (one list concatenation and one conversion
    per column, position ids in numpy), not as one Python list per row converted row by row: the rows'
    lists and their conversion took 0.4-0.5 s of a 16,384-record window."""
    import os

    import numpy as np
    import pyarrow as pa

    order = [i for group in groups for i in group]  # the examples in row order
    example_lengths = np.fromiter((len(examples[i].input_ids) for i in order), np.int64, count=len(order))
    group_sizes = np.fromiter((len(group) for group in groups), np.int64, count=len(groups))
    example_ends = np.cumsum(example_lengths)
    total = int(example_ends[-1]) if len(order) else 0
    if total >= 2**31:
        raise DataError(f"a pack window holds {total} tokens, more than an Arrow list column can; "
                        "lower pack_window_records in the training config")  # fmt: skip
    group_ends = np.cumsum(group_sizes)
    row_ends = example_ends[group_ends - 1] if len(groups) else np.zeros(0, np.int64)
    # offsets of the list columns: the statistics row first (empty), then one list per row
    row_offsets = np.concatenate([[0, 0], row_ends])
    token_offsets = pa.array(row_offsets.astype(np.int32))
    id_offsets = pa.array(np.concatenate([[0, 0], group_ends]).astype(np.int32))
    input_ids: list[int] = []
    labels: list[int] = []
    for i in order:
        input_ids += examples[i].input_ids
        labels += examples[i].labels
    example_starts = np.repeat(example_ends - example_lengths, example_lengths)
    position_ids = (np.arange(total, dtype=np.int64) - example_starts).astype(np.int32)

    def column(values: Any) -> Any:
        return pa.ListArray.from_arrays(token_offsets, values)

    def on_stats_row(value: float, dtype: Any = np.int64) -> Any:
        """A statistics column: ``value`` on the statistics row, zero on every packed row."""
        values = np.zeros(len(groups) + 1, dtype)
        values[0] = value
        return pa.array(values)

    return pa.table(
        {
            "window": pa.array(np.full(len(groups) + 1, window, np.int64)),
            "pos": pa.array(np.arange(-1, len(groups), dtype=np.int64)),  # STATS_POS, then 0..rows-1
            "num_tokens": pa.array(np.diff(row_offsets).astype(np.int64)),  # 0 for the statistics row
            "input_ids": column(pa.array(input_ids, pa.int32())),
            "labels": column(pa.array(labels, pa.int32())),
            "position_ids": column(pa.array(position_ids)),
            "example_ids": pa.ListArray.from_arrays(id_offsets, pa.array([examples[i].id for i in order], pa.string())),
            "records": on_stats_row(stats.records),
            "truncated": on_stats_row(stats.truncated),
            "dropped_no_assistant_tokens": on_stats_row(stats.dropped_no_assistant_tokens),
            "worker_peak_rss_bytes": on_stats_row(peak_rss_bytes()),
            "worker_anon_rss_bytes": on_stats_row(anon_rss_bytes()),
            "worker_pid": on_stats_row(os.getpid()),
            "worker_cpu_seconds": on_stats_row(cpu_seconds(), np.float64),
        }
    )


def _status_bytes(field: str) -> int | None:
    """A memory field of /proc/self/status (``VmHWM``, ``RssAnon``) in bytes; None where /proc lacks it."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def peak_rss_bytes() -> int:
    """This process's peak resident memory: ``VmHWM`` where /proc has it (``ru_maxrss`` survives ``exec`` and
    so can report the peak of the process that started this one), else ``ru_maxrss``."""
    peak = _status_bytes("VmHWM")
    return peak if peak is not None else int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024


def anon_rss_bytes() -> int:
    """This process's private resident memory now (``RssAnon``; 0 where /proc lacks it). ``VmHWM`` also
    counts the shared-memory pages of the object-store blocks an actor has written (about 25 MB per 16k-record
    window here), which belong to Ray's store, not to the actor."""
    return _status_bytes("RssAnon") or 0


def cpu_seconds() -> float:
    """User + system CPU time of this process so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class PrepareWindows:
    """``map_batches`` actor: turns each window id into its packed rows with the driver's tokenizer.

    The tokenizer comes loaded (Ray pickles it): ``AutoTokenizer`` imports torch through transformers'
    configuration code, which took 1.2-2.3 s and ~140 MB of private memory in each actor, where unpickling
    the loaded tokenizer takes ~0.5 s and imports no torch."""

    def __init__(self, tokenizer: Any, windows: list[list[ShardSlice]], max_seq_len: int, packing: bool) -> None:
        self.tokenizer = tokenizer
        self.windows = windows
        self.max_seq_len = max_seq_len
        self.packing = packing
        self.reader = ShardReader()
        avoid_huge_pages()  # (this actor's shard reads took up to 1.7 s with THP allowed, 0.2 s without)
        gc.freeze()  # Ray's, transformers' and the tokenizer's objects: never scanned again by the collector

    def __call__(self, batch: dict[str, Any]) -> Any:
        import pyarrow as pa

        tables = []
        gc.disable()  # a window makes millions of token lists and no reference cycles: no collections meanwhile
        try:
            for w in batch["window"].tolist():
                examples, groups, stats = window_examples(
                    self.tokenizer, self.reader.records(self.windows[w]), self.max_seq_len, self.packing
                )
                tables.append(window_table(int(w), examples, groups, stats))
        finally:
            gc.enable()
        return pa.concat_tables(tables)


@dataclass
class PreparedStage:
    """A stage's rows on Ray (materialized, in the object store) and what the driver knows about them."""

    dataset: Any  # ray.data.MaterializedDataset of window_table rows
    offsets: list[int]  # global index of each window's first row
    lengths: list[int]  # tokens of every row, in global order
    stats: TokenizeStats
    windows: int
    worker_peak_rss_bytes: int
    worker_anon_rss_bytes: int  # the largest private memory an actor had at the end of a window
    worker_cpu_seconds: float  # summed over the actors (each one's CPU time at its last window)

    @property
    def num_rows(self) -> int:
        return len(self.lengths)

    def efficiency(self, micro_batch_size: int, packing: bool, max_seq_len: int) -> float:
        return efficiency_of(self.lengths, micro_batch_size, packing, max_seq_len)


def prepare_stage_dataset(
    tokenizer_dir: str | Path,
    build_dir: str | Path,
    stage_data: str,
    max_seq_len: int,
    packing: bool,
    window_records: int,
    workers: int,
    cpus_per_worker: float,
) -> PreparedStage:
    """Tokenize and pack a stage on ``workers`` Ray Data actors; the driver keeps only integer columns."""
    import numpy as np
    import ray
    import ray.data

    from curate.training.model import load_tokenizer

    windows = plan_windows(build_dir, stage_data, window_records)
    tokenizer = load_tokenizer(tokenizer_dir)  # here, once: a bad directory or template is a ConfigError now
    ray.data.DataContext.get_current().enable_progress_bars = False
    ds = ray.data.from_items([{"window": w} for w in range(len(windows))], override_num_blocks=len(windows))
    ds = ds.map_batches(
        PrepareWindows,
        fn_constructor_kwargs={
            "tokenizer": tokenizer,
            "windows": windows,
            "max_seq_len": max_seq_len,
            "packing": packing,
        },
        batch_size=1,
        batch_format="numpy",
        compute=ray.data.ActorPoolStrategy(size=min(workers, len(windows))),
        num_cpus=cpus_per_worker,
    )
    try:
        ds = ds.materialize()
    except Exception as exc:  # a worker's DataError (bad shard) reaches the user as itself, not as a Ray trace
        cause = _data_error_in(exc)
        if cause is None:
            raise
        raise DataError(str(cause)) from None
    row_index, window_stats = read_index(ds)
    positions, window_of = row_index.column("pos").to_numpy(), row_index.column("window").to_numpy()
    order = np.lexsort((positions, window_of))
    counts = np.bincount(window_of, minlength=len(windows))
    offsets = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
    lengths = row_index.column("num_tokens").to_numpy()[order]
    del row_index, positions, window_of, order
    cols = {c: window_stats.column(c).to_numpy() for c in STAT_COLUMNS}
    stats = TokenizeStats(
        records=int(cols["records"].sum()),
        truncated=int(cols["truncated"].sum()),
        dropped_no_assistant_tokens=int(cols["dropped_no_assistant_tokens"].sum()),
        tokens=int(lengths.sum()),
    )
    if stats.records != sum(s.stop - s.start for w in windows for s in w):
        raise DataError(f"stage {stage_data!r}: the workers read {stats.records} records, the manifest lists more")
    if len(lengths) == 0:
        raise DataError(f"stage {stage_data!r} of {build_dir} has no trainable record (no assistant tokens)")
    log.info(
        "stage %s: %d records -> %d rows in %d windows on %d Ray Data workers",
        stage_data, stats.records, len(lengths), len(windows), min(workers, len(windows)),
    )  # fmt: skip
    return PreparedStage(
        dataset=ds,
        offsets=offsets.tolist(),
        lengths=lengths.tolist(),
        stats=stats,
        windows=len(windows),
        worker_peak_rss_bytes=int(cols["worker_peak_rss_bytes"].max()),
        worker_anon_rss_bytes=int(cols["worker_anon_rss_bytes"].max()),
        worker_cpu_seconds=worker_cpu_seconds(cols["worker_pid"], cols["worker_cpu_seconds"]),
    )


def read_index(ds: Any) -> tuple[Any, Any]:
    """What the driver needs of a prepared stage, read block by block from the object store: ``window``,
    ``pos`` and ``num_tokens`` of every row (as int32), and the statistics columns of the statistics rows only
    (one per window), instead of ten int64 columns for every row.

    Blocks come back zero-copy (shared memory), so only the pages of these columns are touched. A
    ``select_columns`` pass instead started a second Ray Data execution (new task workers) that took ~3 s."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import ray

    rows, stats = [], []
    for ref in ds.to_arrow_refs():
        block = ray.get(ref)
        is_stats = pc.equal(block.column("pos"), STATS_POS)
        rows.append(block.select(["window", "pos", "num_tokens"]).filter(pc.invert(is_stats))
                    .cast(pa.schema([(c, pa.int32()) for c in ("window", "pos", "num_tokens")])))
        stats.append(block.select(list(STAT_COLUMNS)).filter(is_stats))
        del block
    return pa.concat_tables(rows).combine_chunks(), pa.concat_tables(stats).combine_chunks()


def _data_error_in(exc: BaseException) -> DataError | None:
    """The ``DataError`` a Ray worker raised, found in the chain of exceptions Ray wraps it in."""
    seen: set[int] = set()
    stack: list[Any] = [exc]
    while stack:
        e = stack.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        if isinstance(e, DataError):
            return e
        stack.extend([getattr(e, "cause", None), e.__cause__, e.__context__])
    # Ray may hand the worker's traceback over as text only
    found = re.search(r"curate\.training\.data\.DataError: (.+)", str(exc))
    return DataError(found.group(1).strip()) if found else None


def worker_cpu_seconds(pids: Any, cpu: Any) -> float:
    """Total CPU time of the actors: per process, the largest reading (its last window), summed."""
    last: dict[int, float] = {}
    for pid, seconds in zip(pids.tolist(), cpu.tolist(), strict=True):
        if pid:
            last[pid] = max(last.get(pid, 0.0), seconds)
    return sum(last.values())


def in_memory_stage(rows: Sequence[PackedRow]) -> tuple[Any, list[int]]:
    """Rows prepared on the driver (``data.prepare_stage_rows``) as one window, for ``run_stage_on_ray``."""
    import pyarrow as pa
    import ray.data

    from curate.training.data import rows_to_table

    table = rows_to_table(rows).rename_columns(
        ["pos", "input_ids", "labels", "position_ids", "example_ids"]
    )
    table = table.append_column("window", pa.array([0] * len(rows), pa.int64()))
    return ray.data.from_arrow(table), [0]


class RankRows(Sequence[PackedRow]):
    """The rows one training rank needs, out of a stage's rows streamed from Ray Data.

    ``len`` is the stage's row count, so the batch plan is computed as before; ``keep_only`` (called once per
    epoch with the indices of this rank's micro-batches) streams the dataset again and keeps those rows only,
    so a worker holds about 1/world of the rows instead of all of them.
    """

    def __init__(self, batches: Callable[[], Iterable[Any]], offsets: Sequence[int], num_rows: int) -> None:
        self._batches = batches
        self._offsets = list(offsets)
        self._num_rows = num_rows
        self._kept: list[int] = []
        self._table: Any = None

    def __len__(self) -> int:
        return self._num_rows

    def keep_only(self, indices: Iterable[int]) -> None:
        import numpy as np
        import pyarrow as pa
        import pyarrow.compute as pc

        wanted = np.unique(np.fromiter(indices, dtype=np.int64))
        offsets = np.asarray(self._offsets, dtype=np.int64)
        parts = []
        for batch in self._batches():
            table = batch if isinstance(batch, pa.Table) else pa.Table.from_batches([batch])
            pos = table.column("pos").to_numpy()
            index = offsets[table.column("window").to_numpy()] + pos
            keep = (pos != STATS_POS) & np.isin(index, wanted)
            if keep.any():
                part = table.filter(pa.array(keep)).select(["input_ids", "labels", "position_ids", "example_ids"])
                parts.append(part.append_column("row", pa.array(index[keep], pa.int64())))
        if not parts:
            self._kept, self._table = [], None
            return
        table = pa.concat_tables(parts)
        table = table.take(pc.sort_indices(table, [("row", "ascending")])).combine_chunks()
        self._kept = table.column("row").to_pylist()
        self._table = table
        missing = len(wanted) - len(self._kept)
        if missing:
            raise RuntimeError(f"{missing} of this rank's rows are missing from the streamed dataset")

    def __getitem__(self, i: int) -> PackedRow:  # type: ignore[override]
        k = bisect.bisect_left(self._kept, i)
        if k == len(self._kept) or self._kept[k] != i:
            raise IndexError(f"row {i} is not among this rank's rows (call keep_only with the epoch's plan)")
        r = self._table.slice(k, 1).to_pylist()[0]
        return PackedRow(r["input_ids"], r["labels"], r["position_ids"], r["example_ids"])
