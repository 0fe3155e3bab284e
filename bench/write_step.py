"""The write step's seconds alone: build the benchmark corpus once in one process, then build it again
(every unit resumes) and time only ``write_output``, in CPU seconds, which load on a shared machine
disturbs far less than wall time.

    python bench/write_step.py --examples 1000000 --repeat 2

The first run of a size writes the corpus and builds it (minutes at 4M); later runs reuse the work folder.
The printed hash of the manifest's shard rows (paths, rows, sha256) shows that two versions of the code wrote
the same bytes.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import build_throughput

import curate.build.run as build_run
from curate.build import run_build


def timed_build(catalog: Path, out: Path) -> dict[str, Any]:
    """One in-process build into ``out``, with the write step's wall and CPU seconds."""
    spent = {"write_wall_s": 0.0, "write_cpu_s": 0.0}
    original = build_run.write_output

    def write_output(*args: Any, **kwargs: Any) -> Any:
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            return original(*args, **kwargs)
        finally:
            spent["write_wall_s"] += time.perf_counter() - wall
            spent["write_cpu_s"] += time.process_time() - cpu

    build_run.write_output = write_output  # type: ignore[assignment]
    try:
        result = run_build(catalog, out, in_process=True, progress=False)
    finally:
        build_run.write_output = original
    shards = json.dumps(result.manifest["shards"], sort_keys=True).encode()
    return {**{k: round(v, 2) for k, v in spent.items()}, "steps_seconds": result.timings,
            "resumed": result.resumed, "shards": len(result.manifest["shards"]),
            "shards_sha256": hashlib.sha256(shards).hexdigest()[:16]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=1_000_000)
    parser.add_argument("--per-file", type=int, default=20_000)
    parser.add_argument("--work", type=Path, default=Path("/tmp/curate-write-step"))
    parser.add_argument("--repeat", type=int, default=1, help="timed builds after the first")
    args = parser.parse_args()
    root = args.work / f"n{args.examples}"
    if not (root / "corpus").exists():
        build_throughput.write_corpus(root / "corpus", args.examples, args.per_file)
    catalog = build_throughput.write_catalog(root)
    if not (root / "out" / "manifest.json").exists():
        print("first build (not timed):", timed_build(catalog, root / "out"), flush=True)
    for _ in range(args.repeat):
        print(json.dumps({"examples": args.examples, **timed_build(catalog, root / "out")}), flush=True)


if __name__ == "__main__":
    main()
