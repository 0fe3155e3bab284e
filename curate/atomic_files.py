"""Files written whole or not at all: under a temporary name, then renamed, so a reader never sees half.

Used by the build's write and report steps, by exports and by the reports; the bytes depend only on
the content (JSON with sorted keys, no timestamps), so the same inputs give the same checksums. A path may
be an object-storage URI (``curate.storage``): there the file is uploaded whole, as one object.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from curate import storage


def sha256_file(path: Path) -> str:
    return storage.sha256(path)


def write_atomic(path: Path, data: str | bytes) -> None:
    storage.write_bytes(path, data.encode("utf-8") if isinstance(data, str) else data)


def write_json(path: Path, value: Any) -> None:
    write_atomic(path, json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True) + "\n")


def write_large_json(path: Path, value: Any) -> None:
    """``write_json``'s bytes through orjson, ~20x faster (0.5 -> 0.02 s for the 20 MB near-duplicate report
    of 1M examples). The same bytes only where both print every value alike: strings, integers, and
    floats from 1e-4 up to 1e16 (Python's ``repr`` turns to exponents outside them, orjson differently);
    dict keys must be strings."""
    import orjson

    write_atomic(path, orjson.dumps(value, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n")
