"""Transparent huge pages, turned off in the processes that build and prepare data, unless the environment
says otherwise.

Two switches, both measured on this project's 2-core machine (THP ``enabled`` and ``defrag`` = ``madvise``,
also Ubuntu's default):

- **numpy's advice.** numpy asks for huge pages (``madvise(MADV_HUGEPAGE)``) on every large array; filling a
  fresh 400 MB array took 2.66 s with the advice and 0.15 s without it, and the near-duplicate plan of the
  1M-example benchmark 8.1 s against 5.5 s (one process). ``NUMPY_MADVISE_HUGEPAGE`` (numpy's own variable)
  keeps it when set.
- **The whole process** (Linux ``prctl(PR_SET_THP_DISABLE)``, inherited by the processes it starts). Other
  allocators advise huge pages too: in a training-preparation actor, decoding a 100,000-row parquet shard
  took 1.0-1.7 s with THP allowed and at most 0.2 s without (the same read takes ~0.1 s in a small fresh
  process); on 300k records the actors' shard reads fell from 7.5 to 1.4 s. In the 1M-example build the
  workers' peak fell by about 20 MB. ``CURATE_HUGE_PAGES=1`` leaves THP as the system has it.

The build makes many large arrays and buffers once and reads each a few times, so it gains nothing from huge
pages to pay for that. The training processes are left alone: only the build (driver and workers) and the
preparation actors call ``avoid_huge_pages``.
"""

from __future__ import annotations

import os
import sys

NUMPY_ENV = "NUMPY_MADVISE_HUGEPAGE"  # numpy's own switch, read when numpy is imported: "0" turns the advice off
KEEP_ENV = "CURATE_HUGE_PAGES"  # "1": leave transparent huge pages on for curate's processes
_PR_SET_THP_DISABLE = 41  # <linux/prctl.h>


def avoid_huge_pages() -> None:
    """Turn numpy's huge-page advice off in this process and in the processes it starts (a local Ray's
    workers inherit the variable) unless ``NUMPY_MADVISE_HUGEPAGE`` is set, and, on Linux, transparent huge
    pages for this process and its future children unless ``CURATE_HUGE_PAGES=1``."""
    os.environ.setdefault(NUMPY_ENV, "0")
    if sys.platform == "linux" and os.environ.get(KEEP_ENV) != "1":
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_THP_DISABLE, 1, 0, 0, 0)  # (a kernel before 3.15: no-op)
    try:
        from numpy._core.multiarray import _set_madvise_hugepage  # numpy 2
    except ImportError:  # numpy 1 (the variable still reaches the processes started from here)
        return
    _set_madvise_hugepage(os.environ[NUMPY_ENV] != "0")
