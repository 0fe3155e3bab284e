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
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from curate.render import RECORD_SCHEMA


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
    pq.write_table(table, tmp, compression="zstd", row_group_size=1024)
    os.replace(tmp, path)


def merge_and_dedup(paths: list[str], dedup: bool) -> tuple[pa.Table, Counter[str]]:
    """All rows of an output in global hash order; exact duplicates (normalized prompt + response)
    keep the copy with the smallest order key, and removals are counted per dataset."""
    tables = [t for t in (pq.read_table(p) for p in sorted(paths)) if t.num_rows]
    removed: Counter[str] = Counter()
    if not tables:
        return pa.Table.from_pylist([], schema=RECORD_SCHEMA.append(pa.field("order_key", pa.string()))
                                    .append(pa.field("dedup_key", pa.string()))), removed
    table = pa.concat_tables(tables).sort_by([("order_key", "ascending")])
    if dedup and table.num_rows:
        # order keys are unique: keep each duplicate group's smallest one
        first = table.group_by("dedup_key").aggregate([("order_key", "min")]).column("order_key_min")
        keep = pc.is_in(table.column("order_key"), value_set=first)
        dropped = table.filter(pc.invert(keep)).column("dataset").to_pylist()
        removed.update(dropped)
        table = table.filter(keep)
    return table, removed


def write_shards(table: pa.Table, out_dir: Path, rows_per_shard: int,
                 split_column: bool = True) -> list[dict[str, Any]]:
    """Split the ordered table into shards of ``rows_per_shard`` rows per split; return manifest rows."""
    jobs: list[tuple[str, str, pa.Table]] = []
    splits = sorted(set(table.column("split").to_pylist())) if split_column and table.num_rows else []
    for split in splits:
        part = table.filter(pc.equal(table.column("split"), split)).select(list(RECORD_SCHEMA.names))
        part = part.cast(RECORD_SCHEMA)
        count = max(1, -(-part.num_rows // rows_per_shard))
        for index in range(count):
            jobs.append((f"{split}-{index:05d}-of-{count:05d}.parquet", split,
                         part.slice(index * rows_per_shard, rows_per_shard)))

    def write(job: tuple[str, str, pa.Table]) -> dict[str, Any]:
        name, split, chunk = job
        write_table_atomic(chunk, out_dir / name)
        return {"path": name, "split": split, "rows": chunk.num_rows, "sha256": sha256_file(out_dir / name)}

    # parquet compression and hashing release the GIL: threads write shards in parallel, in a fixed order
    with ThreadPoolExecutor(max_workers=max(1, min(len(jobs), os.cpu_count() or 1))) as pool:
        return list(pool.map(write, jobs))


def clear_stale(out_dir: Path, keep: set[str]) -> None:
    """Remove shards of an earlier build that this build did not write (e.g. fewer shards now)."""
    if out_dir.exists():
        for path in out_dir.glob("*.parquet"):
            if path.name not in keep:
                path.unlink()
