"""Intermediate files between a build's phases: Arrow IPC, uncompressed, read through a memory map.

They are written once and read back whole or batch by batch, on the same machine or a shared disk,
so size matters less than speed: an IPC file is written with no encoding step and read with no copy
(parquet spent about 2 µs per row on each side). Final shards stay parquet. Every file is written under
a temporary name and renamed, so a resumed build never reads half a file. Under an object-storage ``--out``
(``curate.storage``) a file is written locally, then uploaded whole, and read back in ranges.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pyarrow as pa

from curate import storage

SUFFIX = ".arrow"


@contextmanager
def writer(path: Path, schema: pa.Schema) -> Iterator[pa.ipc.RecordBatchFileWriter]:
    """A writer of record batches to ``path``, which appears only once the writer is closed."""
    with storage.output_file(path) as tmp, pa.OSFile(str(tmp), "wb") as sink, pa.ipc.new_file(sink, schema) as out:
        yield out


def read_table(path: str | Path, columns: list[str] | None = None) -> pa.Table:
    """The whole file (or some columns), backed by the memory map: no copy until a column is used."""
    with storage.open_input(path) as source:
        table = pa.ipc.open_file(source).read_all()
    return table.select(columns) if columns is not None else table


def read_batch(path: str | Path, index: int) -> pa.RecordBatch:
    """One record batch of the file: only its pages are read (a range of the object on a store)."""
    with storage.open_input(path) as source:
        return pa.ipc.open_file(source).get_batch(index)


def iter_batches(path: str | Path) -> Iterator[pa.RecordBatch]:
    """The file's record batches, as they were written (a worker holds one at a time)."""
    with storage.open_input(path) as source:
        reader = pa.ipc.open_file(source)
        for index in range(reader.num_record_batches):
            yield reader.get_batch(index)
