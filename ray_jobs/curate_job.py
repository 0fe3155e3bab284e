"""Entrypoint for ``ray job submit``: build a catalog on the cluster the job runs in.

    ray job submit --working-dir . --runtime-env ray_jobs/runtime_env.yaml -- \
        python ray_jobs/curate_job.py --catalog /shared/catalog.yaml --out /shared/out --workers 8

Inside a job ``ray.init()`` attaches to the cluster (no resources may be passed), so this only
parses arguments and calls the same ``run_build`` as ``curate build``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the uploaded working dir


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--catalog", default="catalog.yaml")
    parser.add_argument("--out", required=True, help="output directory, on storage every node shares")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--stage", action="append", default=None)
    args = parser.parse_args()

    import ray

    from curate.build import run_build

    ray.init()  # attach to the job's cluster
    result = run_build(args.catalog, args.out, workers=args.workers, seed=args.seed, progress=False,
                       stages=args.stage)
    total = sum(s["rows"] for s in result.manifest["shards"])
    print(f"curate job: wrote {total} records in {len(result.manifest['shards'])} shards to {result.out_dir}")


if __name__ == "__main__":
    main()
