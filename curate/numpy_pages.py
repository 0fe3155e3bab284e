"""Numpy's huge-page advice, turned off in curate's processes unless ``NUMPY_MADVISE_HUGEPAGE`` says otherwise.

On Linux numpy asks for transparent huge pages (``madvise(MADV_HUGEPAGE)``) on every large array. Where the
kernel's THP ``defrag`` setting is ``madvise`` (Ubuntu's default, and this project's 2-core machine), each
first touch of such an array may stop to compact memory: filling a fresh 400 MB array took 2.66 s with the
advice and 0.15 s without it, and the near-duplicate plan of the 1M-example benchmark 8.1 s against 5.5 s
(one process). The build makes many large arrays once (band keys, pair codes, partition keys) and reads
each a few times, so it gains nothing from huge pages to pay for that.
"""

from __future__ import annotations

import os

ENV = "NUMPY_MADVISE_HUGEPAGE"  # numpy's own switch, read when numpy is imported: "0" turns the advice off


def avoid_numpy_hugepages() -> None:
    """Turn numpy's huge-page advice off in this process and in the processes it starts (a local Ray's
    workers inherit the variable), unless the environment sets ``NUMPY_MADVISE_HUGEPAGE`` already."""
    os.environ.setdefault(ENV, "0")
    try:
        from numpy._core.multiarray import _set_madvise_hugepage  # numpy 2
    except ImportError:  # numpy 1 (the variable still reaches the processes started from here)
        return
    _set_madvise_hugepage(os.environ[ENV] != "0")
