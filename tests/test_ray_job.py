"""The Ray job path: `ray start --head` on loopback, then `ray job submit` builds the demo catalog."""

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from net_util import is_loopback, listeners

pytestmark = [pytest.mark.ray, pytest.mark.timeout(240)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def kill_cluster(patterns: list[str]) -> None:
    """Stop only this test's cluster (``ray stop`` would also stop other clusters on the machine)."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        pids = set()
        for pattern in patterns:
            out = subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True).stdout
            pids.update(int(p) for p in out.split() if int(p) != os.getpid())
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        time.sleep(1.5)


def test_build_runs_as_a_ray_job(repo, tmp_path):
    bin_dir = Path(sys.executable).parent
    ray_cli = str(bin_dir / "ray")
    temp = tempfile.mkdtemp(prefix="rayjob", dir="/tmp")
    gcs, dash = free_port(), free_port()
    # a one-machine cluster: every Ray service on loopback (README "On a Ray cluster")
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
    try:
        start = [ray_cli, "start", "--head", f"--port={gcs}", "--node-ip-address=127.0.0.1",
                 "--dashboard-host=127.0.0.1", f"--dashboard-port={dash}", "--num-cpus=2",
                 f"--temp-dir={temp}", "--disable-usage-stats",
                 # own ports for every agent, so another Ray on the machine cannot take them
                 f"--dashboard-agent-listen-port={free_port()}", f"--dashboard-agent-grpc-port={free_port()}",
                 f"--runtime-env-agent-port={free_port()}", f"--metrics-export-port={free_port()}"]
        subprocess.run(start, check=True, env=env, capture_output=True, timeout=90)
        out = tmp_path / "out"
        submit = [ray_cli, "job", "submit", "--address", f"http://127.0.0.1:{dash}", "--working-dir", str(repo),
                  "--runtime-env", str(repo / "ray_jobs/runtime_env.yaml"), "--",
                  "python", "ray_jobs/curate_job.py", "--catalog", str(repo / "catalog.yaml"), "--out", str(out),
                  "--workers", "2"]
        deadline = time.monotonic() + 90
        while True:  # the job agent comes up a few seconds after `ray start` returns
            job = subprocess.run(submit, env=env, capture_output=True, text=True, timeout=180)
            if job.returncode == 0 or "No available agent" not in job.stderr or time.monotonic() > deadline:
                break
            time.sleep(3)
        assert job.returncode == 0, job.stdout[-3000:] + job.stderr[-3000:]
        assert "curate job: wrote" in job.stdout
        manifest = json.loads((out / "manifest.json").read_text())
        assert {"stage1", "stage2", "eval"} <= set(manifest["outputs"])
        assert all((out / s["path"]).exists() for s in manifest["shards"])
        cluster = {int(p) for p in subprocess.run(["pgrep", "-f", temp], capture_output=True, text=True).stdout.split()}
        seen = listeners(cluster)
        assert {"gcs_server", "raylet"} <= {name for _, name in seen}, seen
        assert [s for s in seen if not is_loopback(s[0])] == []
    finally:
        kill_cluster([temp, f":{gcs}"])
