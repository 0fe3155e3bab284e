"""`curate train` and `curate generate`: thin typer commands over ``curate.training``.

Only light modules are imported at the top so `curate --help` stays instant; torch, Ray and DeepSpeed are
imported when a command runs. `curate/cli.py` registers these functions as commands.
"""

from __future__ import annotations

import json
import os
import shlex
from pathlib import Path
from typing import Annotated

import typer

SUBMIT_SCRIPT = "ray_jobs/train.py"
RUNTIME_ENV = "ray_jobs/runtime_env.yaml"
EXIT_ERROR = 1  # bad config or data; 2 is left to usage errors, as in curate/cli.py


def project_root() -> Path:
    """The folder that holds ray_jobs/ (the job's working dir): the checkout curate runs from, else the cwd."""
    checkout = Path(__file__).resolve().parents[2]
    return checkout if (checkout / SUBMIT_SCRIPT).exists() else Path.cwd().resolve()


def _build_location(build: Path) -> str:
    """The build for a job on the cluster: an absolute path, or the URI as given (curate/storage.py)."""
    from curate import storage

    return storage.display(storage.location(build))


def submit_line(
    build: Path, config: Path | None, output: Path, stages: str, overrides: list[str], address: str | None,
    init_from: str | None = None, resume_from: str | None = None,
) -> str:
    """The `ray job submit` command that runs the same training on a cluster, copy-pasteable from any folder:
    absolute paths, the runtime env, and the job address (``--address``, else an ``http://`` RAY_ADDRESS)."""
    root = project_root()
    job_address = next((a for a in (address, os.environ.get("RAY_ADDRESS")) if a and "://" in a), None)
    cmd = ["ray", "job", "submit"]
    if job_address:  # else `ray job submit` uses its own default (RAY_ADDRESS or http://127.0.0.1:8265)
        cmd += ["--address", job_address]
    cmd += [
        "--working-dir",
        str(root),
        "--runtime-env",
        str(root / RUNTIME_ENV),
        "--",
        "python",
        SUBMIT_SCRIPT,
        "--build",
        _build_location(build),
        "--output",
        str(output.resolve()),
    ]
    if config:
        cmd += ["--config", str(config.resolve())]
    if stages:
        cmd += ["--stages", stages]
    for o in overrides:
        cmd += ["--set", o]
    for option, value in (("--init-from", init_from), ("--resume-from", resume_from)):
        if value:
            cmd += [option, str(Path(value).resolve())]
    return shlex.join(cmd)


def train_command(
    build: Annotated[Path, typer.Option("--build", help="build directory written by `curate build`")],
    config: Annotated[Path | None, typer.Option("--config", help="training config YAML")] = None,
    output: Annotated[Path, typer.Option("--output", help="output directory")] = Path("out/train"),
    stages: Annotated[
        str, typer.Option("--stages", help="stages to run, e.g. 1,2 or stage2 (default: all)")
    ] = "",
    overrides: Annotated[
        list[str] | None, typer.Option("--set", help="config override key.sub=value (repeatable)")
    ] = None,
    init_from: Annotated[
        str | None, typer.Option("--init-from", help="HF model dir the first selected stage starts from")
    ] = None,
    resume_from: Annotated[
        str | None,
        typer.Option("--resume-from", help="Ray/DeepSpeed checkpoint dir to resume the first stage"),
    ] = None,
    address: Annotated[
        str | None, typer.Option("--address", help="Ray cluster address (default: start Ray in-process)")
    ] = None,
    no_ray: Annotated[
        bool, typer.Option("--no-ray", help="train in this process, without Ray/DeepSpeed")
    ] = False,
    print_submit: Annotated[
        bool, typer.Option("--print-submit", help="print the `ray job submit` line for a cluster and exit")
    ] = False,
) -> None:
    """Fine-tune a model on a build in stages (Taiyi: stage 1 non-dialogue, stage 2 all data)."""
    from rich.console import Console

    console = Console()
    overrides = list(overrides or [])
    if print_submit:
        print(submit_line(build, config, output, stages, overrides, address, init_from, resume_from))
        return
    from curate.errors import CurateError
    from curate.training.config import ConfigError, load_config
    from curate.training.data import DataError

    try:
        cfg = load_config(config, overrides)
        selected = [s for s in stages.split(",") if s.strip()] or None
        if not no_ray:
            import ray

            from curate.ray_address import cluster_address

            if not ray.is_initialized():
                resolved = cluster_address(address)
                if resolved is None:  # the same loopback-only embedded Ray as `curate build`
                    from curate.build.executor import start_local_ray

                    start_local_ray()
                else:
                    ray.init(address=resolved, include_dashboard=False)
        from curate.training.stages import run_stages

        summaries = run_stages(
            cfg, build, output, selected, use_ray=not no_ray, init_from=init_from, resume_from=resume_from
        )
    except (ConfigError, DataError, CurateError) as exc:
        Console(stderr=True).print(f"[red]error:[/red] {exc}")
        raise typer.Exit(EXIT_ERROR) from None
    for s in summaries:
        state = "skipped (already complete)" if s.skipped else f"{s.global_step} steps"
        console.print(
            f"{s.stage}: {state}; weights in {s.hf_dir}; packing efficiency {s.packing_efficiency:.3f}"
        )


def generate_command(
    model: Annotated[Path, typer.Option("--model", help="HF model directory, e.g. OUTPUT/stage2/hf")],
    build: Annotated[Path, typer.Option("--build", help="build directory with eval/manifest.json")],
    split: Annotated[str, typer.Option("--split", help="eval split to answer")] = "test",
    out: Annotated[Path | None, typer.Option("--out", help="predictions JSONL")] = None,
    batch_size: Annotated[int, typer.Option("--batch-size")] = 8,
    max_new_tokens: Annotated[int, typer.Option("--max-new-tokens")] = 256,
    limit: Annotated[
        int | None, typer.Option("--limit", help="answer only the first N records by id")
    ] = None,
    no_vllm: Annotated[
        bool, typer.Option("--no-vllm", help="use HF generate even if vLLM is installed")
    ] = False,
) -> None:
    """Write predictions ({"id", "prediction"} per line, sorted by id) for `curate eval`."""
    from curate.training.config import ConfigError
    from curate.training.data import DataError
    from curate.training.generate import generate_predictions

    target = out or Path(f"predictions-{split}.jsonl")
    try:
        summary = generate_predictions(
            model, build, target, split, batch_size, max_new_tokens, limit, use_vllm=not no_vllm
        )
    except (ConfigError, DataError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(EXIT_ERROR) from None
    typer.echo(json.dumps(summary))
