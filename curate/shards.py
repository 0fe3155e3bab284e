"""Writing a build's outputs: deduplicated, hash-ordered, fixed-size parquet shards and their manifest.

Every file is written under a temporary name and renamed, so a reader never sees half a shard, and
the bytes depend only on the rows (no timestamps), so the same inputs give the same checksums.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from curate.render import RECORD_SCHEMA, read_work


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_atomic(path: Path, data: str | bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    if isinstance(data, str):
        tmp.write_text(data, encoding="utf-8")
    else:
        tmp.write_bytes(data)
    os.replace(tmp, path)


def write_json(path: Path, value: Any) -> None:
    write_atomic(path, json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True) + "\n")


def write_table_atomic(table: pa.Table, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    pq.write_table(table, tmp, compression="zstd")
    os.replace(tmp, path)


@dataclass
class MergedOutput:
    """The rows of one output: ``wide`` as read (any order), and ``order``, the indices of the rows kept,
    in global hash order. Rows are gathered in that order only when a shard is written, in parallel."""

    wide: pa.Table
    order: pa.Array
    keys: pa.Table  # dataset, task, source_lang, split of the kept rows, in order (for counts)
    removed: Counter[str]

    @property
    def num_rows(self) -> int:
        return len(self.order)


_KEY_COLUMNS = ["order_key", "dedup_key", "dataset", "task", "source_lang", "split"]


def merge_and_dedup(sources: list[tuple[str, str | None]], dedup: bool) -> MergedOutput:
    """All rows of an output in global hash order; exact duplicates (normalized prompt + response)
    keep the copy with the smallest order key, and removals are counted per dataset. ``sources``:
    (path, None) for a phase-2 file, (path, catalog entry hash) for a phase-1 file taken whole."""
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:  # parquet decoding releases the GIL
        tables = [t for t in pool.map(lambda source: read_work(*source), sorted(sources)) if t.num_rows]
    removed: Counter[str] = Counter()
    if not tables:
        empty = pa.Table.from_pylist([], schema=RECORD_SCHEMA)
        keys = pa.table({name: pa.array([], pa.uint64() if name.endswith("_key") else pa.string())
                         for name in _KEY_COLUMNS})
        return MergedOutput(empty, pa.array([], pa.int64()), keys, removed)
    wide = pa.concat_tables(tables)
    keys = wide.select(_KEY_COLUMNS)
    order = pc.sort_indices(keys, sort_keys=[("order_key", "ascending")])
    if dedup:
        # order keys are unique: keep each duplicate group's smallest one
        first = keys.group_by("dedup_key").aggregate([("order_key", "min")]).column("order_key_min")
        keep = pc.is_in(keys.column("order_key"), value_set=first)
        removed.update(keys.filter(pc.invert(keep)).column("dataset").to_pylist())
        order = pc.filter(order, pc.take(keep, order))
    return MergedOutput(wide.select(list(RECORD_SCHEMA.names)), order, keys.take(order), removed)


def write_shards(merged: MergedOutput, out_dir: Path, rows_per_shard: int) -> list[dict[str, Any]]:
    """Split the ordered rows into shards of ``rows_per_shard`` rows per split; return manifest rows."""
    jobs: list[tuple[str, str, pa.Array]] = []
    split_column = merged.keys.column("split")
    for split in sorted(pc.unique(split_column).to_pylist()) if merged.num_rows else []:
        indices = pc.filter(merged.order, pc.equal(split_column, split))
        count = max(1, -(-len(indices) // rows_per_shard))
        for index in range(count):
            jobs.append((f"{split}-{index:05d}-of-{count:05d}.parquet", split,
                         indices.slice(index * rows_per_shard, rows_per_shard)))

    def write(job: tuple[str, str, pa.Array]) -> dict[str, Any]:
        name, split, indices = job
        chunk = merged.wide.take(indices).cast(RECORD_SCHEMA)
        write_table_atomic(chunk, out_dir / name)
        return {"path": name, "split": split, "rows": chunk.num_rows, "sha256": sha256_file(out_dir / name)}

    # gathering, parquet compression and hashing release the GIL: threads write shards in parallel, in a
    # fixed order, so the bytes do not depend on scheduling
    with ThreadPoolExecutor(max_workers=max(1, min(len(jobs), os.cpu_count() or 1))) as pool:
        return list(pool.map(write, jobs))


def clear_stale(out_dir: Path, keep: set[str]) -> None:
    """Remove shards of an earlier build that this build did not write (e.g. fewer shards now)."""
    if out_dir.exists():
        for path in out_dir.glob("*.parquet"):
            if path.name not in keep:
                path.unlink()
