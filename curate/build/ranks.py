"""Selection ranks as the driver sees them: counted and searched file by file, never held whole.

A quota that takes part of a dataset × task needs one number, the rank below which examples are taken
(the k-th smallest). Holding every rank to find it made the driver's memory grow with the corpus
(8 bytes per example and a copy to partition), so ``StoredRanks`` reads them back from the phase-1 files
when asked, and ``kth_smallest`` finds the k-th by radix selection over 16-bit digits: each pass over the
files counts one digit of the values still in play, until few enough remain to select in memory. Ranks are
hash-mixed (uniform), so one or two passes suffice; the answer is exactly ``np.partition(all, k)[k]``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np

from curate.build import intermediate

IN_MEMORY = 1 << 18  # values still in play at most held in memory to finish a selection (2 MB)
DIGIT_BITS = 16


def kth_smallest(read: Callable[[], Iterable[np.ndarray]], k: int, in_memory: int = IN_MEMORY) -> int:
    """The k-th smallest (0-based) of the uint64 values that ``read()`` yields in chunks; ``read`` is called
    once per pass. Memory: one chunk, a 65,536-bin histogram and at most ``in_memory`` values."""
    bits, prefix = 64, 0  # values in play: those whose top ``64 - bits`` bits equal ``prefix``
    while True:
        histogram = np.zeros(1 << DIGIT_BITS, np.int64)
        kept: list[np.ndarray] = []
        size = 0
        for values in read():
            values = np.asarray(values, dtype=np.uint64)
            if bits < 64:
                values = values[(values >> np.uint64(bits)) == np.uint64(prefix)]
            size += len(values)
            if size <= in_memory:
                kept.append(values)
            if bits:
                digits = (values >> np.uint64(bits - DIGIT_BITS)) & np.uint64((1 << DIGIT_BITS) - 1)
                histogram += np.bincount(digits.astype(np.intp), minlength=1 << DIGIT_BITS)
        if not 0 <= k < size:
            raise IndexError(f"rank {k} of {size} values")
        if size <= in_memory:
            return int(np.partition(np.concatenate(kept), k)[k])
        if not bits:  # every value in play is equal
            return prefix
        below = np.cumsum(histogram)
        digit = int(np.searchsorted(below, k, side="right"))
        k -= int(below[digit - 1]) if digit else 0
        prefix, bits = (prefix << DIGIT_BITS) | digit, bits - DIGIT_BITS


@dataclass
class StoredRanks:
    """The ranks of one dataset × task in its phase-1 files (``files``: path and the documents the cleaning
    plan removes from it), less those removed; ``count``: how many."""

    task: str
    files: list[tuple[str, dict[str, str] | None]] = field(default_factory=list)
    count: int = 0

    def __len__(self) -> int:
        return self.count

    def chunks(self) -> Iterator[np.ndarray]:
        """This task's ranks, one phase-1 file at a time."""
        for path, gone in self.files:
            for task, ranks in file_ranks(path, gone):
                if task == self.task:
                    yield ranks

    def kth_smallest(self, k: int) -> int:
        return kth_smallest(self.chunks, k, IN_MEMORY)


def file_ranks(path: str, gone: dict[str, str] | None,
               removed: Callable[[str, str, int], None] | None = None) -> Iterator[tuple[str, np.ndarray]]:
    """(task, ranks) of one phase-1 file, less the examples of documents the cleaning plan removes
    (``gone``: document id -> reason); ``removed(task, reason, n)`` hears of those."""
    import pyarrow.compute as pc

    from curate.cleaning.plan import removed_mask

    table = intermediate.read_table(path, columns=["task", "rank", "document_id"] if gone else ["task", "rank"])
    if gone:
        masks = removed_mask(table, gone)
        if removed is not None:
            for reason, mask in masks.items():
                counts = pc.value_counts(table.filter(mask).column("task")).to_pylist()
                for row in counts:
                    removed(row["values"], reason, row["counts"])
        if masks:
            table = table.filter(pc.invert(functools.reduce(pc.or_, masks.values())))
    for task in pc.unique(table.column("task")).to_pylist():
        yield task, table.filter(pc.equal(table.column("task"), task)).column("rank").to_numpy()
