"""Entrypoint for ``ray job submit``: build a catalog on the cluster the job runs in.

    ray job submit --working-dir . --runtime-env ray_jobs/runtime_env.yaml -- \
        python ray_jobs/curate_job.py --catalog catalog.yaml --out /shared/out --workers 8

Inside a job ``ray.init()`` attaches to the cluster (no resources may be passed), so this only
parses arguments and calls the same ``run_build`` as ``curate build``. Progress goes to stderr as plain
lines every few seconds (``ray job logs`` is not a terminal); a bad catalog or input is one ``error:``
line and exit status 1, not a traceback.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the uploaded working dir


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--catalog", default="catalog.yaml")
    parser.add_argument("--out", required=True, help="output directory on storage every node shares, or an "
                        "s3:// or gs:// URI")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--stage", action="append", default=None)
    parser.add_argument("--no-progress", action="store_true", help="no progress lines")
    parser.add_argument("--keep-work", action="store_true", help="keep OUT/.work after a successful build")
    args = parser.parse_args()

    from curate.build import run_build
    from curate.catalog import load_catalog
    from curate.errors import CurateError

    try:
        load_catalog(args.catalog)  # a bad catalog is reported before any cluster work
        import ray

        ray.init()  # attach to the job's cluster
        result = run_build(args.catalog, args.out, workers=args.workers, seed=args.seed,
                           progress=not args.no_progress, stages=args.stage)
    except CurateError as exc:
        print(f"curate job: error: {exc}", file=sys.stderr, flush=True)
        return 1
    from curate import storage

    if not args.keep_work:
        storage.remove_tree(result.out_dir / ".work")
    total = sum(s["rows"] for s in result.manifest["shards"])
    print(f"curate job: wrote {total} records in {len(result.manifest['shards'])} shards to "
          f"{storage.display(result.out_dir)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
