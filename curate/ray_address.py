"""Which Ray cluster a build attaches to, from ``--address`` or ``RAY_ADDRESS``.

Users who submit jobs keep the job-submission (dashboard) address, ``http://host:8265``, in
``RAY_ADDRESS``. A driver cannot attach there: it needs the cluster's GCS address (``host:6379`` unless
``ray start --port`` said otherwise). An ``http://`` address is therefore mapped to the same host's GCS
port when that port answers, and otherwise refused with a message that says what to do.
"""

from __future__ import annotations

import os
import socket
from urllib.parse import urlsplit

from curate.errors import CurateError

DEFAULT_GCS_PORT = 6379  # `ray start --head` without --port


def _answers(host: str, port: int, timeout: float = 2.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def cluster_address(address: str | None) -> str | None:
    """The address for ``ray.init``: ``address``, else ``RAY_ADDRESS``, else None (start a local Ray).

    A job-submission address (``http(s)://host:port``) becomes ``host:6379`` when a GCS answers there;
    ``RAY_ADDRESS`` is then rewritten for this process, since ``ray.init`` reads it too."""
    from_env = address is None
    value = address if address is not None else os.environ.get("RAY_ADDRESS") or None
    if value is None or not value.startswith(("http://", "https://")):
        return value
    source = "RAY_ADDRESS" if from_env else "--address"
    host = urlsplit(value).hostname or ""
    if host and _answers(host, DEFAULT_GCS_PORT):
        resolved = f"{host}:{DEFAULT_GCS_PORT}"
        if from_env:
            os.environ["RAY_ADDRESS"] = resolved
        return resolved
    raise CurateError(
        f"{source}={value} is a job-submission (dashboard) address, and no Ray cluster answers at "
        f"{host or value}:{DEFAULT_GCS_PORT}, where `curate build` would attach. Either submit the build as a "
        f"job: `ray job submit --address {value} --working-dir . --runtime-env ray_jobs/runtime_env.yaml -- "
        "python ray_jobs/curate_job.py --catalog catalog.yaml --out /shared/out` (README, 'On a Ray cluster'), "
        "or pass the cluster's GCS address (`curate build --address HOST:PORT`, the port `ray start --head` "
        "printed), or unset RAY_ADDRESS to build on a local Ray.")
