"""Phase 1's record of the documents of one file: id, overlap key and (near-duplicate detection on)
MinHash signature, written beside the file's examples for the driver's cleaning plan.

A table is an Arrow IPC file (``ids`` string, ``keys`` uint64, ``signatures`` fixed-size lists of uint16),
read back through a memory map: a reader of one column touches only its pages, and the signatures come back
as a (documents x num_perm) numpy view with no copy. (It was an ``.npz``: ``np.savez`` of a 20,000-document
table took 23-64 ms where ``np.save`` of its signatures alone took 3-16 ms, and the saves cost 2% of a 1M
in-process build with near-duplicates on.)"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa

from curate import storage
from curate.cleaning.minhash import SIGNATURE_DTYPE, MinHasher
from curate.cleaning.overlap import document_key

PENDING_TEXTS = 2_048  # texts a table holds before hashing them as one block (bounds a worker's memory)
SUFFIX = ".documents.arrow"


class DocumentTable:
    """The documents of one phase-1 file, in the order their first example came."""

    def __init__(self, hasher: MinHasher | None = None, skip_tasks: frozenset[str] = frozenset(),
                 hashed: bool = True) -> None:
        self.hasher = hasher
        self.skip_tasks = skip_tasks  # their documents get an EMPTY signature: in no near-duplicate pair
        self.hashed = hashed  # False (the dataset turns near-duplicates off): every signature EMPTY, none computed
        self.ids: list[str] = []
        self.keys: list[int] = []
        self.signatures: list[np.ndarray] = []  # blocks of signatures, in document order
        self._pending: tuple[list[str], list[str]] = ([], [])  # texts and languages not yet hashed
        self._seen: set[str] = set()

    def add(self, document_id: str, text: str, language: str, task: str = "") -> int | None:
        """Record a document the first time one of its examples (of ``task``) comes; return its overlap
        key then (None when it was recorded already)."""
        if document_id in self._seen:
            return None
        self._seen.add(document_id)
        key = document_key(text)
        self.ids.append(document_id)
        self.keys.append(key)
        if self.hasher is not None:  # hashed in blocks (MinHasher.signatures): far cheaper than one by one
            texts, languages = self._pending
            texts.append("" if task in self.skip_tasks or not self.hashed else text)
            languages.append(language)
            if len(texts) >= PENDING_TEXTS:
                self._hash_pending()
        return key

    def _hash_pending(self) -> None:
        texts, languages = self._pending
        if texts and self.hasher is not None:
            self.signatures.append(self.hasher.signatures(texts, languages))
        self._pending = ([], [])

    def save(self, path: Path) -> None:
        """Write atomically (Arrow IPC, one record batch)."""
        self._hash_pending()
        width = self.hasher.num_perm if self.hasher is not None else 0
        signatures = (np.concatenate(self.signatures) if self.signatures
                      else np.empty((0, width), dtype=SIGNATURE_DTYPE))
        columns = {"ids": pa.array(self.ids, pa.string()), "keys": pa.array(np.array(self.keys, dtype=np.uint64))}
        if width:  # (Arrow has no fixed-size list of size 0: without near-duplicates, no signature column)
            columns["signatures"] = pa.FixedSizeListArray.from_arrays(pa.array(signatures.reshape(-1)), width)
        table = pa.table(columns)
        with storage.output_file(path) as tmp, pa.OSFile(str(tmp), "wb") as sink, \
                pa.ipc.new_file(sink, table.schema) as out:
            out.write_table(table)


def read_column(path: Path, name: str) -> np.ndarray:
    """One column of a document table (``ids``, ``keys`` or ``signatures``), read alone: the ids as an object
    array of str, the keys as uint64, the signatures as a read-only (documents x num_perm) uint16 view of the
    memory-mapped file."""
    with storage.open_input(path) as source:  # a local path, or a URI (curate/storage.py)
        table = pa.ipc.open_file(source).read_all()
    if name == "signatures" and name not in table.column_names:
        return np.empty((table.num_rows, 0), dtype=SIGNATURE_DTYPE)
    column = table.column(name).combine_chunks()
    if name == "ids":
        return np.array(column.to_pylist(), dtype=object)
    if name == "signatures":
        return column.flatten().to_numpy().reshape(-1, column.type.list_size)
    return column.to_numpy()


def count_documents(path: Path) -> int:
    """How many documents a table holds, from its record batches' headers alone (no column is read)."""
    with storage.open_input(path) as source:
        reader = pa.ipc.open_file(source)
        return sum(reader.get_batch(i).num_rows for i in range(reader.num_record_batches))


def load_documents(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(document ids, overlap keys, signatures) of a file written by ``DocumentTable.save``."""
    return read_column(path, "ids"), read_column(path, "keys"), read_column(path, "signatures")
