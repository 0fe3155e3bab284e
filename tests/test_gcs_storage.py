"""Builds into and out of Google Cloud Storage's API: gcp-storage-emulator's server on 127.0.0.1, started here.

``gs://`` goes through pyarrow's ``GcsFileSystem`` (``curate.storage``), pointed at the emulator by
``STORAGE_EMULATOR_HOST`` as Google's own clients are. The demo catalog built into ``gs://`` by 2 Ray workers
must give the bytes of the local demo build, and a dataset's files given as ``gs://`` URIs must give the
records of the same files read from disk.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from curate import storage
from curate.build import run_build
from tests.test_object_storage import build_from_store_and_disk, environment, local_files, remote_files

pytestmark = [pytest.mark.ray, pytest.mark.slow, pytest.mark.timeout(600)]

BUCKET = "curate-gcs-test"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def gcs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The GCS emulator in its own process on a free loopback port, with one bucket, and ``STORAGE_EMULATOR_HOST``
    pointing at it (restored afterwards); yields ``gs://BUCKET``. (In this process, the emulator's server
    thread and Arrow's GCS client deadlock on the first ranged read.)"""
    pytest.importorskip("gcp_storage_emulator", reason="gcp-storage-emulator is in the test extra")
    port = _free_port()
    log = tmp_path_factory.mktemp("gcs-emulator") / "emulator.log"
    with log.open("w") as sink:
        server = subprocess.Popen([sys.executable, "-m", "gcp_storage_emulator", "start", "--host=127.0.0.1",
                                   f"--port={port}", "--in-memory"], stdout=sink, stderr=subprocess.STDOUT)
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:  # create the bucket once the server answers
        request = urllib.request.Request(f"{endpoint}/storage/v1/b?project=curate",
                                         data=json.dumps({"name": BUCKET}).encode(),
                                         headers={"Content-Type": "application/json"}, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                assert response.status == 200
            break
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                pytest.fail(f"the GCS emulator did not start: {log.read_text()[-2000:]}")
            time.sleep(0.2)
    env = {storage.GCS_EMULATOR_ENV: endpoint, "CURATE_STORAGE_CACHE": str(tmp_path_factory.mktemp("gcs-cache"))}
    try:
        with environment(env):
            yield f"gs://{BUCKET}"
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_two_workers_on_gcs_write_the_local_bytes(gcs: str, ray_local: Any, demo_build: Any) -> None:
    uri = f"{gcs}/two-workers"
    run_build(Path(__file__).parent.parent / "catalog.yaml", uri, workers=2, progress=False)
    assert remote_files(uri) == local_files(demo_build.out_dir)
    assert not Path("gs:").exists()  # nothing went to a local folder named after the URI


def test_catalog_files_read_from_gcs(gcs: str, repo: Path, tmp_path: Path) -> None:
    build_from_store_and_disk(gcs, repo, tmp_path, "cdr_en_test.pubtator")


def test_a_bad_emulator_address_is_a_storage_error_naming_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(storage.GCS_EMULATOR_ENV, "not-an-address")
    monkeypatch.setattr(storage, "_filesystems", {})
    with pytest.raises(storage.StorageError, match="STORAGE_EMULATOR_HOST=not-an-address is not an address"):
        storage.filesystem("gs://bucket/key")
