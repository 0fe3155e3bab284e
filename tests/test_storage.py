"""curate/storage.py without an object store: locations, the local fast path, and remote inputs staged from a
local HTTP server on 127.0.0.1."""

from __future__ import annotations

import functools
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from curate import storage
from tests.cdr_catalog import write_cdr_catalog


def test_a_uri_survives_pathlib_joins():
    joined = Path("s3://bucket/out") / ".work" / "phase1" / "x.arrow"
    assert str(joined) == "s3:/bucket/out/.work/phase1/x.arrow"
    assert storage.uri_of(joined) == "s3://bucket/out/.work/phase1/x.arrow"
    assert storage.display(joined) == "s3://bucket/out/.work/phase1/x.arrow"
    assert storage.uri_of("/tmp/out") is None and storage.uri_of("out/s3") is None
    assert storage.uri_of("file:///tmp/x") is None  # a local path
    assert storage.location("s3://b/p") == Path("s3://b/p")  # a URI is not resolved against the cwd


@pytest.mark.parametrize(("text", "write", "words"), [
    ("ftp://host/out", True, "ftp:// cannot be written to"),
    ("hf://datasets/x/y", True, "hf:// cannot be written to"),
    ("s3://", True, "names no bucket"),
    (str(Path("s3://")), True, "names no bucket"),  # "s3:", as typer's Path option hands it over
    ("ftp://host/file", False, "ftp:// cannot be read from"),
])
def test_unusable_uris_fail_naming_the_option(text, write, words):
    with pytest.raises(storage.StorageError, match="--out") as caught:
        storage.check_uri(text, "--out", write=write)
    assert words in str(caught.value)


def test_local_writes_keep_the_rename_and_leave_nothing_on_failure(tmp_path):
    target = tmp_path / "sub" / "part.npy"
    storage.save_npy(target, np.arange(5, dtype=np.uint64))
    assert target.read_bytes() == _npy_bytes(np.arange(5, dtype=np.uint64))  # what np.save writes
    assert [p.name for p in target.parent.iterdir()] == ["part.npy"]
    with pytest.raises(RuntimeError), storage.output_file(tmp_path / "half.json") as tmp:
        tmp.write_text("{", encoding="utf-8")
        raise RuntimeError("cut")
    assert not (tmp_path / "half.json").exists()
    assert storage.list_files(tmp_path / "sub", ".npy") == ["part.npy"]
    assert storage.list_files(tmp_path / "missing") == []


def _npy_bytes(array: np.ndarray) -> bytes:
    import io

    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


@pytest.fixture
def http_folder(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    folder = tmp_path / "served"
    folder.mkdir()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield folder, f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


def test_a_remote_input_is_staged_once_into_the_local_cache(http_folder, tmp_path, monkeypatch):
    folder, base = http_folder
    monkeypatch.setenv("CURATE_STORAGE_CACHE", str(tmp_path / "cache"))
    (folder / "train.tsv").write_text("a\tb\n", encoding="utf-8")
    local = storage.stage(f"{base}/train.tsv")
    assert Path(local).read_text(encoding="utf-8") == "a\tb\n"
    assert Path(local).is_relative_to(tmp_path / "cache")
    assert storage.stage(f"{base}/train.tsv") == local  # same URI, size and time: the same copy
    with pytest.raises(storage.StorageError, match="no such file"):
        storage.stage(f"{base}/missing.tsv")


def test_a_units_marker_never_vouches_for_files_another_key_wrote(repo, tmp_path, monkeypatch):
    """Build A; build B (another seed) into the same folder dies right after its first unit wrote its examples,
    before that unit's summary (its commit marker); build C (A's seed again) must not trust A's summary for
    B's examples: it ends with A's bytes."""
    from curate.build import run_build

    catalog = write_cdr_catalog(tmp_path / "catalog.yaml", repo / "instruction_templates",
                                {"train": str(repo / "demo/data/cdr_en_train.pubtator")})
    out = tmp_path / "out"

    def shards() -> dict[str, bytes]:
        return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*.parquet"))
                if ".work" not in p.parts}

    run_build(catalog, out, seed=0, in_process=True, progress=False)
    first = shards()
    write_bytes = storage.write_bytes

    def killed_at_the_marker(location: object, data: bytes) -> None:
        if "/phase1/" in str(location) and str(location).endswith(".json"):
            raise KeyboardInterrupt("killed before the unit's summary")
        write_bytes(location, data)

    monkeypatch.setattr(storage, "write_bytes", killed_at_the_marker)
    with pytest.raises(KeyboardInterrupt):
        run_build(catalog, out, seed=1, in_process=True, progress=False)
    monkeypatch.setattr(storage, "write_bytes", write_bytes)
    again = run_build(catalog, out, seed=0, in_process=True, progress=False)
    assert again.resumed["phase1"] == 0
    assert shards() == first
