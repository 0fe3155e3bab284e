"""The build: a catalog in, instruction-record shards out, as a flow of steps (see docs/architecture.md).

plan -> extract (phase 1) -> select -> render (phase 2) -> write -> report, run by an executor (a pool of Ray
actors, or one process). ``run_build`` is the entry point.
"""

from __future__ import annotations

from typing import Any

__all__ = ["BuildResult", "plan_units", "ray_session", "run_build", "start_local_ray"]


def __getattr__(name: str) -> Any:
    """The entry points, imported on first use: importing a step module does not import the whole build."""
    if name in ("BuildResult", "run_build"):
        from curate.build import run

        return getattr(run, name)
    if name == "plan_units":
        from curate.build import plan

        return plan.plan_units
    if name in ("ray_session", "start_local_ray"):
        from curate.build import executor

        return getattr(executor, name)
    raise AttributeError(f"module 'curate.build' has no attribute {name!r}")
