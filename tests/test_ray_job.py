"""The README's Ray cluster commands, run verbatim from a fresh copy of the project: `ray start --head` on
loopback, `ray job submit` of the demo build (its log shows progress lines), then `curate build` attached
through an http:// RAY_ADDRESS. Every listener of the cluster is on loopback. The cluster is stopped by its own
processes, not `ray stop` (which would stop every Ray on a shared machine)."""

import contextlib
import json
import os
import re
import shutil
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
DEFAULT_AGENT_PORT = 52365  # Ray's dashboard agent listens here unless told otherwise


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_busy(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def kill_cluster(patterns: list[str]) -> None:
    """Stop only this test's cluster: the processes whose command line names its own temp dir or port."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        pids = set()
        for pattern in patterns:
            out = subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True).stdout
            pids.update(int(p) for p in out.split() if int(p) != os.getpid())
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        time.sleep(1.5)


def readme_cluster_commands(readme: Path) -> list[str]:
    """The bash block of the README's 'On a Ray cluster' section, one string per command."""
    section = readme.read_text(encoding="utf-8").split("## On a Ray cluster", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```bash\n(.*?)```", section, re.S).group(1)
    return [c.strip() for c in block.replace("\\\n", " ").splitlines() if c.strip()]


def fresh_copy(repo: Path, target: Path) -> Path:
    """What a clone holds: the tracked and not-ignored files of the project."""
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=repo, capture_output=True,
                           text=True, check=True).stdout.splitlines()
    for name in files:
        if (repo / name).is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(repo / name, target / name)
    return target


def test_readme_cluster_commands_run_verbatim(repo, tmp_path):
    commands = readme_cluster_commands(repo / "README.md")
    words = [[w for w in c.split() if not re.fullmatch(r"[A-Z_]+=\S*", w)] for c in commands]  # env prefixes
    assert [w[:3] for w in words] == [["ray", "start", "--head"], ["ray", "job", "submit"], ["ray", "stop"]]
    start, submit, _stop = commands  # `ray stop` is replaced by stopping this cluster's own processes
    # verbatim on a machine with no other Ray; where another Ray (this session's own embedded one, or a
    # neighbour's) holds a default port, the same commands get free ports for what is taken
    defaults_free = not (port_busy(6379) or port_busy(8265))
    if not defaults_free:
        gcs, dash = free_port(), free_port()
        start = start.replace("--head", f"--head --port={gcs} --dashboard-port={dash}")
        submit = submit.replace("http://127.0.0.1:8265", f"http://127.0.0.1:{dash}")
    if port_busy(DEFAULT_AGENT_PORT):  # a second dashboard agent on its port never comes up
        start = start.replace("--head", "--head " + " ".join(f"--{flag}={free_port()}" for flag in (
            "dashboard-agent-listen-port", "dashboard-agent-grpc-port", "runtime-env-agent-port",
            "metrics-export-port")))
    project = fresh_copy(repo, tmp_path / "curate")
    temp = tempfile.mkdtemp(prefix="rayreadme", dir="/tmp")
    bin_dir = str(Path(sys.executable).parent)
    env = {**os.environ, "RAY_TMPDIR": temp, "RAY_AUTH_MODE": "disabled", "PATH": f"{bin_dir}:{os.environ['PATH']}",
           "PYTHONPATH": str(project)}
    env.pop("RAY_ADDRESS", None)
    try:
        started = subprocess.run(["bash", "-c", start], cwd=project, env=env, capture_output=True, text=True,
                                 timeout=90)
        assert started.returncode == 0, started.stderr[-2000:]
        deadline = time.monotonic() + 60
        while True:  # the job agent comes up a few seconds after `ray start` returns
            job = subprocess.run(["bash", "-c", submit], cwd=project, env=env, capture_output=True, text=True,
                                 timeout=180)
            if job.returncode == 0 or "No available agent" not in job.stderr + job.stdout \
                    or time.monotonic() > deadline:
                break
            time.sleep(2)
        log = job.stdout + job.stderr
        assert job.returncode == 0, log[-4000:]
        assert "curate job: wrote" in log
        # progress reached the job log as plain lines while the build ran, not one bar at the end
        assert re.search(r"\[curate +[\d.]+s\] phase 1: read and extract: 0/\d+ \(0%\) started", log), log[-3000:]
        assert re.search(r"\[curate +[\d.]+s\] phase 2: select and render: (\d+)/\1 \(100%\)", log)
        out = project / "out"
        manifest = json.loads((out / "manifest.json").read_text())
        assert {"stage1", "stage2", "eval"} <= set(manifest["outputs"])
        assert all((out / s["path"]).exists() for s in manifest["shards"])
        assert not (out / ".work").exists()  # removed after the successful build: the folder is publishable
        cluster = {int(p) for p in subprocess.run(["pgrep", "-f", temp], capture_output=True, text=True).stdout.split()}
        seen = listeners(cluster)
        assert {"gcs_server", "raylet"} <= {name for _, name in seen}, seen
        assert [s for s in seen if not is_loopback(s[0])] == []  # the README's cluster listens on loopback only

        if defaults_free:  # the job address users keep in RAY_ADDRESS attaches `curate build` to the cluster
            build = subprocess.run([sys.executable, "-m", "curate", "build", "--out", str(tmp_path / "attached"),
                                    "--json"], cwd=project, env={**env, "RAY_ADDRESS": "http://127.0.0.1:8265"},
                                   capture_output=True, text=True, timeout=150)
            assert build.returncode == 0, build.stderr[-3000:]
            assert json.loads(build.stdout)["records"] == sum(s["rows"] for s in manifest["shards"])
            assert "phase 2: select and render" in build.stderr
    finally:
        kill_cluster([temp])
        shutil.rmtree(temp, ignore_errors=True)


@pytest.mark.timeout(60)
def test_job_entrypoint_reports_a_bad_catalog_in_one_line(repo, tmp_path):
    bad = tmp_path / "catalog.yaml"
    bad.write_text("datasets:\n  - name: x\n    format: nope\n", encoding="utf-8")
    done = subprocess.run([sys.executable, str(repo / "ray_jobs/curate_job.py"), "--catalog", str(bad), "--out",
                           str(tmp_path / "out")], capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.startswith(f"curate job: error: {bad}")
