"""Ray job entrypoint: two-stage fine-tuning of a curate build with Ray Train + DeepSpeed.

    ray job submit --working-dir . --runtime-env ray_jobs/runtime_env.yaml -- \
        python ray_jobs/train.py --build /shared/BUILD --config CONFIG.yaml --output /shared/OUT

(`curate train --print-submit` prints this line with absolute paths.)

Read top to bottom: setup (config, Ray), train (each stage: data -> Ray Train workers -> DeepSpeed
checkpoints), save (HF weights per stage, summary). BUILD and OUT must be on storage every node can see.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path

# The job runs `python ray_jobs/train.py` in the working dir; make the `curate` package beside it importable.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--build", required=True, type=Path, help="build directory (BUILD/<stage>/manifest.json)")
    p.add_argument("--config", type=Path, default=None, help="training config YAML")
    p.add_argument("--output", type=Path, default=Path("out/train"), help="output directory (shared storage)")
    p.add_argument("--stages", default="", help="stages to run, e.g. 1,2 (default: all in the config)")
    p.add_argument("--set", dest="overrides", action="append", default=[], help="override key.sub=value")
    p.add_argument("--init-from", default=None, help="HF model dir the first selected stage starts from")
    p.add_argument(
        "--resume-from", default=None, help="checkpoint dir to resume the first selected stage from"
    )
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    # --- setup: typed config (YAML + overrides) and the Ray cluster this job runs on
    args = parse_args(argv)
    import ray

    from curate.training.config import load_config
    from curate.training.stages import run_stages

    cfg = load_config(args.config, args.overrides)
    if not ray.is_initialized():
        ray.init()  # attach to the cluster the job was submitted to; never pass resources here

    # --- train: stage by stage; a finished stage is skipped, an interrupted one resumes from its checkpoint
    stages = [s for s in args.stages.split(",") if s.strip()] or None
    summaries = run_stages(
        cfg,
        args.build,
        args.output,
        stages,
        use_ray=True,
        init_from=args.init_from,
        resume_from=args.resume_from,
    )

    # --- save: weights are in OUTPUT/<stage>/hf; record what ran
    summary = [asdict(s) for s in summaries]
    (args.output / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
