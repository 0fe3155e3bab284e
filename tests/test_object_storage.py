"""Builds into and out of an S3-compatible object store: moto's server on 127.0.0.1, started here.

The demo catalog built to ``s3://`` with 1 and 2 workers, after a killed worker and a killed driver, and on
a two-node Ray cluster that shares nothing but the object store, must give the bytes of the local demo build
(``demo_build``); catalog files, exports and training data are read from the store too.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from curate import storage
from curate.build import run_build
from tests.cdr_catalog import write_cdr_catalog

pytestmark = [pytest.mark.ray, pytest.mark.slow, pytest.mark.timeout(600)]

BUCKET = "curate-test"
ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
       "AWS_EC2_METADATA_DISABLED": "true"}


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """moto's S3 server on a free loopback port, one bucket, and the AWS variables pointing at it (restored
    afterwards); yields ``s3://BUCKET``."""
    pytest.importorskip("moto.server", reason="moto[server] is in the test extra")
    import boto3
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    env = {**ENV, "AWS_ENDPOINT_URL": f"http://{host}:{port}",
           "CURATE_STORAGE_CACHE": str(tmp_path_factory.mktemp("storage-cache"))}
    try:
        with environment(env):
            boto3.client("s3", endpoint_url=env["AWS_ENDPOINT_URL"]).create_bucket(Bucket=BUCKET)
            yield f"s3://{BUCKET}"
    finally:
        server.stop()


@contextmanager
def environment(env: dict[str, str]) -> Iterator[None]:
    """These variables set (and no filesystem kept from another endpoint) while inside; restored after."""
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    storage._filesystems.clear()  # (kept per bucket)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        storage._filesystems.clear()


def local_files(out: Path) -> dict[str, str]:
    """sha256 of every output file of a local build, the scratch folder and lock aside."""
    return {str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(out.rglob("*"))
            if p.is_file() and ".work" not in p.relative_to(out).parts and p.name != ".lock"}


def remote_files(uri: str) -> dict[str, str]:
    """The same for a build on the object store."""
    import pyarrow.fs as pafs

    fs, root = storage.filesystem(uri)
    infos = fs.get_file_info(pafs.FileSelector(root, recursive=True, allow_not_found=True))
    names = sorted(i.path[len(root) + 1:] for i in infos if i.type == pafs.FileType.File)
    return {n: storage.sha256(f"{uri}/{n}") for n in names if not n.startswith(".work/") and n != ".lock"}


@pytest.fixture(scope="module")
def reference(demo_build: Any) -> dict[str, str]:
    return local_files(demo_build.out_dir)


@pytest.fixture(scope="module")
def s3_build(s3: str, ray_local: Any) -> str:
    """The demo catalog built by 2 workers into the object store; its URI."""
    uri = f"{s3}/two-workers"
    run_build(Path(__file__).parent.parent / "catalog.yaml", uri, workers=2, progress=False)
    return uri


def test_two_workers_on_s3_write_the_local_bytes(s3_build, reference):
    assert remote_files(s3_build) == reference
    assert not Path("s3:").exists()  # nothing went to a local folder named after the URI


def test_one_worker_killed_in_the_write_step_on_s3_ends_identical(s3, ray_local, repo, reference, tmp_path,
                                                                  monkeypatch):
    """One worker, SIGKILLed at its second write task: Ray restarts it, the task runs again (its files are
    rewritten whole on the store) and every output has the local bytes."""
    marker = tmp_path / "killed"
    monkeypatch.setenv("CURATE_FAULT_MARKER", str(marker))
    monkeypatch.setenv("CURATE_FAULT_POINT", "write:2")
    uri = f"{s3}/one-worker"
    run_build(repo / "catalog.yaml", uri, workers=1, progress=False)
    assert marker.exists(), "the fault was never injected"
    assert remote_files(uri) == reference


def test_killed_driver_on_s3_resumes_and_ends_identical(s3, ray_local, repo, reference, tmp_path):
    """The driver with its embedded Ray SIGKILLed mid-build: its lock object stays behind (same host, dead
    pid: taken over), finished units stay on the store, and a rerun (with 4 workers) resumes from them."""
    import pyarrow.fs as pafs

    uri = f"{s3}/killed-driver"
    cmd = [sys.executable, "-m", "curate", "build", "--catalog", str(repo / "catalog.yaml"), "--out", uri,
           "--workers", "2", "--no-progress"]
    proc = subprocess.Popen(cmd, cwd=tmp_path, start_new_session=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    fs, root = storage.filesystem(f"{uri}/.work/phase1")

    def summaries() -> int:
        infos = fs.get_file_info(pafs.FileSelector(root, recursive=True, allow_not_found=True))
        return sum(1 for i in infos if i.path.endswith(".json"))

    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and proc.poll() is None and summaries() < 3:
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert summaries() >= 1, "nothing finished before the kill"
    assert storage.exists(f"{uri}/.lock")  # left by the dead driver
    result = run_build(repo / "catalog.yaml", uri, workers=4, progress=False)  # 4 workers resume 2 workers' units
    assert result.resumed["phase1"] >= 1  # unit summaries on the store are the commit markers a rerun trusts
    assert remote_files(uri) == reference
    assert not storage.exists(f"{uri}/.lock")
    assert list(tmp_path.iterdir()) == []  # the driver wrote nothing in its working directory


TWO_NODES = textwrap.dedent("""
    import json, sys
    import ray
    from ray.cluster_utils import Cluster
    from curate.build import run_build

    catalog, uri, head_temp = sys.argv[1:4]
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "temp_dir": head_temp,
                                                           "include_dashboard": False})
    for _ in range(2):
        cluster.add_node(num_cpus=1)
    ray.init(address=cluster.address, log_to_driver=False, configure_logging=False)
    nodes = [n["NodeID"] for n in ray.nodes() if n["Alive"] and n["Resources"].get("CPU")]
    result = run_build(catalog, uri, workers=2, progress=False)
    print(json.dumps({"worker_nodes": len(nodes), "rows": sum(s["rows"] for s in result.manifest["shards"])}))
    ray.shutdown()
    cluster.shutdown()
""")


def test_two_node_cluster_shares_only_the_object_store(s3, repo, reference, tmp_path):
    """Two Ray nodes of one CPU each (the head has none): the two actors run on different nodes, and every
    intermediate file goes through the object store; the driver's working directory stays empty. One actor
    is SIGKILLed at its first render: Ray restarts it, and it reads its inputs back from the store."""
    script = tmp_path / "two_nodes.py"
    script.write_text(TWO_NODES, encoding="utf-8")
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    uri = f"{s3}/two-nodes"
    marker = tmp_path / "killed"
    env = {**os.environ, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "1", "CURATE_FAULT_MARKER": str(marker),
           "CURATE_FAULT_POINT": "render:1"}
    head_temp = Path("/tmp") / f"ray2n{os.getpid()}"
    done = subprocess.run([sys.executable, str(script), str(repo / "catalog.yaml"), uri, str(head_temp)], cwd=cwd,
                          env=env, capture_output=True, text=True, timeout=400)
    assert done.returncode == 0, done.stderr[-3000:]
    info = json.loads(done.stdout.strip().splitlines()[-1])
    assert info["worker_nodes"] == 2
    assert marker.exists(), "the fault was never injected"
    assert remote_files(uri) == reference
    assert list(cwd.iterdir()) == []


def build_from_store_and_disk(store: str, repo: Path, tmp_path: Path, test_name: str,
                              put: Callable[[str, bytes], None] | None = None) -> Any:
    """The demo's CDR files uploaded to ``STORE/inputs/cdr/`` (by ``put``, default ``storage.write_bytes``; a
    read-only store needs its own) and built in process from there (the test split as ``test_name`` in that
    folder, a glob allowed) and from disk: the records and source counts must be the same. Returns the build
    from the store."""
    data = repo / "demo" / "data"
    for name in ("cdr_en_train.pubtator", "cdr_en_test.pubtator"):
        (put or storage.write_bytes)(f"{store}/inputs/cdr/{name}", (data / name).read_bytes())

    def catalog(train: str, test: str, folder: Path) -> Path:
        folder.mkdir()
        return write_cdr_catalog(folder / "catalog.yaml", repo / "instruction_templates",
                                 {"train": train, "test": test}, output={"rows_per_shard": 100000})

    local = run_build(catalog(str(data / "cdr_en_train.pubtator"), str(data / "cdr_en_test.pubtator"),
                              tmp_path / "local"), tmp_path / "local" / "out", in_process=True, progress=False)
    remote = run_build(catalog(f"{store}/inputs/cdr/cdr_en_train.pubtator", f"{store}/inputs/cdr/{test_name}",
                               tmp_path / "remote"), tmp_path / "remote" / "out", in_process=True, progress=False)
    from curate.build_dir import BuildDir

    def records(out: Path) -> list[tuple[str, str]]:
        build = BuildDir(out)
        return [(r["id"], json.dumps(r["messages"], ensure_ascii=False)) for o in build.outputs()
                for r in build.records(o, columns=["id", "messages"])]

    assert records(remote.out_dir) == records(local.out_dir) != []
    assert remote.manifest["sources"] == local.manifest["sources"]
    return remote


def test_catalog_files_read_from_s3(s3, repo, tmp_path):
    """A dataset's files given as s3:// URIs (one literal, one glob) are staged into the local cache and
    read as local files: the records are those of the same files read from disk."""
    remote = build_from_store_and_disk(s3, repo, tmp_path, "*_test.pubtator")
    from curate.build_dir import BuildDir

    # provenance names a file the glob matched by its URI, as a catalog writes it
    evaluation = BuildDir(remote.out_dir).records("eval", columns=["provenance"])
    assert {r["provenance"]["source_file"] for r in evaluation} == {f"{s3}/inputs/cdr/cdr_en_test.pubtator"}


def test_export_eval_and_training_data_read_a_build_on_s3(s3_build, demo_build, tmp_path):
    from curate.evaluate import evaluate, gold_predictions
    from curate.export import export_build
    from curate.training.data import read_records, shard_paths

    for where, build in (("local", demo_build.out_dir), ("remote", Path(s3_build))):
        export_build(build, "stage2", "llamafactory", tmp_path / where, "train")
    local_export = sorted((tmp_path / "local").rglob("*.*"))
    assert local_export
    for path in local_export:
        assert (tmp_path / "remote" / path.relative_to(tmp_path / "local")).read_bytes() == path.read_bytes()
    assert read_records(shard_paths(s3_build, "stage1")) == read_records(shard_paths(demo_build.out_dir, "stage1"))
    # the training job's windows read row groups of a shard on the store as on disk
    from curate.training.prepare import ShardReader, ShardSlice

    remote_shard, local_shard = shard_paths(s3_build, "stage1")[0], shard_paths(demo_build.out_dir, "stage1")[0]
    window = ShardReader().records([ShardSlice(str(remote_shard), 3, 9)])
    assert window == ShardReader().records([ShardSlice(str(local_shard), 3, 9)]) and len(window) == 6
    gold = gold_predictions(s3_build)
    assert gold == gold_predictions(demo_build.out_dir) != []
    predictions = tmp_path / "gold.jsonl"
    predictions.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in gold), encoding="utf-8")
    report = evaluate(predictions, s3_build).to_json()
    assert report == evaluate(predictions, demo_build.out_dir).to_json() and report["missing"] == 0


def test_bad_object_store_outs_fail_with_the_option_named(s3, repo, tmp_path):
    from typer.testing import CliRunner

    from curate.cli import app

    for out, words in ((f"s3://no-such-bucket-{os.getpid()}/out", "bucket"), ("ftp://host/out", "ftp://")):
        result = CliRunner().invoke(app, ["build", "--catalog", str(repo / "catalog.yaml"), "--out", out,
                                          "--no-progress"])
        assert result.exit_code == 1, result.output
        assert "--out" in result.output and words in result.output
        assert "Traceback" not in result.output


def test_a_live_holders_lock_object_stops_a_second_build(s3, repo):
    """The lock on an object store is an object: a live holder (this process) makes a second build stop at
    once, naming the holder and how to clear a lock whose build is dead."""
    from curate.outlock import OutputBusy

    uri = f"{s3}/locked"
    holder = {"pid": os.getpid(), "host": "build-host-7", "started": "2026-11-30T00:00:00Z"}
    storage.write_bytes(f"{uri}/.lock", json.dumps(holder).encode())
    with pytest.raises(OutputBusy) as caught:
        run_build(repo / "catalog.yaml", uri, in_process=True, progress=False)
    message = str(caught.value)
    assert f"process {os.getpid()} on build-host-7" in message and f"delete {uri}/.lock" in message
    assert storage.exists(f"{uri}/.lock")  # someone else's lock is left alone


def test_near_duplicates_on_s3_read_the_document_tables_from_the_store(s3, ray_local, tmp_path):
    """With near-duplicate detection on, the pairing workers read phase 1's document tables from the object
    store: the cleaning reports and the shards are the local build's bytes."""
    from tests.test_cleaning import _corpus

    catalog = _corpus(tmp_path / "c", quality={"mojibake": True})
    local = run_build(catalog, tmp_path / "local", workers=2, progress=False)
    uri = f"{s3}/near-duplicates"
    run_build(catalog, uri, workers=2, progress=False)
    assert json.loads((local.out_dir / "near_duplicates.json").read_text())["documents_removed"] > 0
    assert remote_files(uri) == local_files(local.out_dir)
