"""`curate fetch` against a local HTTP mirror on 127.0.0.1: no internet.

The mirror serves ../shared/datasets at the upstream URLs the test catalog (tests/catalogs/shared_sources.yaml) names,
with HTTP Range support and a switch that cuts a response short, so that a good fetch, a checksum mismatch, a resumed
download, hostile archives, an agreement-gated entry and offline mode all run for real.
"""

from __future__ import annotations

import hashlib
import io
import os
import stat
import sys
import tarfile
import threading
import zipfile
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
import yaml
from typer.testing import CliRunner

from curate.catalog import load_catalog
from curate.cli import app
from curate.errors import CatalogError
from curate.fetch import apply_mirrors, digests

pytestmark = pytest.mark.timeout(300)

REPO = Path(__file__).resolve().parent.parent
SOURCES_CATALOG = REPO / "tests" / "catalogs" / "shared_sources.yaml"


class Mirror:
    """A threaded HTTP server on 127.0.0.1 serving a table of URL paths -> files, with Range requests."""

    def __init__(self) -> None:
        self.files: dict[str, Path] = {}
        self.cut_after: dict[str, int] = {}  # path -> bytes sent before the connection drops (once)
        self.requests: list[tuple[str, str | None]] = []
        mirror = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                path = unquote(self.path)
                mirror.requests.append((path, self.headers.get("Range")))
                file = mirror.files.get(path)
                if file is None:
                    self.send_error(404)
                    return
                data = file.read_bytes()
                if self.command == "HEAD":
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    return
                start = 0
                if self.headers.get("Range"):
                    start = int(self.headers["Range"].removeprefix("bytes=").split("-")[0])
                    if start >= len(data):
                        self.send_response(416)
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                self.send_header("Content-Length", str(len(data) - start))
                self.end_headers()
                cut = mirror.cut_after.pop(path, None)
                if cut is not None:
                    self.wfile.write(data[start:start + cut])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(data[start:])

            def do_HEAD(self) -> None:
                self.do_GET()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/"

    def serve(self, url: str, file: Path) -> None:
        """Serve ``file`` as the mirror of ``url`` (its scheme dropped: http://127.0.0.1:PORT/host/path)."""
        self.files["/" + url.split("://", 1)[1]] = file

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def mirror() -> Iterator[Mirror]:
    server = Mirror()
    yield server
    server.close()


def run_fetch(catalog: Path, cache: Path, *args: str) -> Any:
    result = CliRunner().invoke(app, ["fetch", "--catalog", str(catalog), "--cache", str(cache), "--no-progress",
                                      *args])
    assert "Traceback" not in result.output, result.output
    return result


def write_catalog(folder: Path, datasets: list[dict[str, Any]]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "catalog.yaml"
    path.write_text(yaml.safe_dump({"version": 1, "templates": str(REPO / "instruction_templates"),
                                    "datasets": datasets}), encoding="utf-8")
    return path


def entry(name: str, source: dict[str, Any], files: dict[str, str] | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {"name": name, "language": "en", "tasks": ["tc"], "license": "CC BY 4.0",
                            "homepage": "https://example.org/" + name, "source": source}
    if files:
        data.update(format="tabular", files=files,
                    options={"kind": "tc", "file_format": "jsonl", "fields": {"text": "text", "labels": "label"}})
    return data


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def all_files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")} if root.exists() else set()


# --- the shared corpora through the mirror ------------------------------------------------------------------------


def _without_example_paths(rows: list[dict]) -> list[dict]:
    """Validate rows with each reject reason's example file name cut to its base name (the two copies live in
    different folders; everything else must be equal)."""
    out = []
    for row in rows:
        row = dict(row)
        row["reject_reasons"] = [
            {**reason, "example": {**reason["example"], "file": Path(reason["example"]["file"]).name}}
            for reason in row.get("reject_reasons", [])]
        out.append(row)
    return out


def test_fetch_shared_corpora_then_validate_gives_the_same_counts(
        mirror: Mirror, shared_datasets: Path, shared_validation: dict[tuple[str, str], dict[str, Any]],
        tmp_path: Path) -> None:
    """Every file of the shared-sources catalog is fetched, verified and placed; validate on the fetched copy counts
    what it counts on ../shared directly (the session's validation of the shared test catalog); a rerun downloads
    nothing and is quick."""
    from curate.validate import validate_catalog

    work = tmp_path / "project"
    work.mkdir()
    catalog_path = work / "shared_sources.yaml"
    catalog_path.write_text(SOURCES_CATALOG.read_text(encoding="utf-8").replace(
        "templates: ../../instruction_templates", f"templates: {REPO / 'instruction_templates'}"), encoding="utf-8")
    catalog = load_catalog(catalog_path, check_files=False)
    expected, distinct = 0, set()
    for dataset in catalog.datasets:
        assert dataset.source is not None
        for file in dataset.source.files:
            assert file.upstream is not None and file.local.startswith("data/")
            mirror.serve(file.upstream, shared_datasets / file.local.removeprefix("data/"))
            expected += 1
            distinct.add(file.sha256)
    cache = tmp_path / "cache"

    result = run_fetch(catalog_path, cache, "--mirror", f"https://={mirror.base}", "--json")
    assert result.exit_code == 0, result.output
    import json
    report = json.loads(result.stdout)
    assert len(report["files"]) == expected
    assert {row["state"] for row in report["files"]} == {"placed"}
    assert "licenses of the datasets about to be downloaded" in result.stderr
    assert len(mirror.requests) == len(distinct)  # equal bytes (one folder read by two entries) come once

    fetched = load_catalog(catalog_path)  # every files: pattern now resolves
    names = {d.name for d in fetched.datasets}
    fetched_rows, _ = validate_catalog(fetched)
    keys = [(row["dataset"], row["split"]) for row in fetched_rows]
    assert set(keys) == {key for key in shared_validation if key[0] in names}
    shared_rows = [shared_validation[key] for key in keys]
    assert _without_example_paths(fetched_rows) == _without_example_paths(shared_rows)
    assert sum(row["documents"] for row in fetched_rows) > 10_000

    assert all_files(work) - {"shared_sources.yaml"} <= {p for p in all_files(work) if p.startswith("data")}
    cache_folders = ("blobs", "partial", "unpacked", "locks")
    assert all_files(cache) <= {p for p in all_files(cache) if p.split("/")[0] in cache_folders}

    again = run_fetch(catalog_path, cache, "--mirror", f"https://={mirror.base}", "--json")
    assert again.exit_code == 0, again.output
    assert {row["state"] for row in json.loads(again.stdout)["files"]} == {"in place"}
    assert len(mirror.requests) == len(distinct)  # nothing asked again

    offline = run_fetch(catalog_path, cache, "--offline")  # a warm cache needs no network
    assert offline.exit_code == 0, offline.output


# --- failures: each a message with the fix, no traceback ------------------------------------------------------


def test_checksum_mismatch_names_file_expected_actual_and_fix(mirror: Mirror, tmp_path: Path) -> None:
    served = tmp_path / "served" / "data.jsonl"
    served.parent.mkdir()
    served.write_bytes(b'{"text": "a", "label": "x"}\n')
    url = "https://example.org/corpus/data.jsonl"
    mirror.serve(url, served)
    wrong = sha256(b"something else")
    catalog = write_catalog(tmp_path / "project", [entry("toy", {"files": [
        {"url": url, "sha256": wrong, "local": "data/toy/data.jsonl"}]})])
    cache = tmp_path / "cache"
    result = run_fetch(catalog, cache, "--mirror", f"https://={mirror.base}")
    assert result.exit_code == 1
    assert "checksum mismatch" in result.stderr and wrong in result.stderr
    assert sha256(served.read_bytes()) in result.stderr and "fix:" in result.stderr
    assert not (tmp_path / "project" / "data").exists()
    assert not any(p.is_file() for p in cache.rglob("*") if p.parent.name != "locks")  # the bad download is not kept


def test_interrupted_download_resumes_with_a_range_request(mirror: Mirror, tmp_path: Path) -> None:
    served = tmp_path / "served" / "big.jsonl"
    served.parent.mkdir()
    payload = b"".join(b'{"text": "record %d", "label": "x"}\n' % i for i in range(50_000))
    served.write_bytes(payload)
    url = "https://example.org/corpus/big.jsonl"
    mirror.serve(url, served)
    mirror.cut_after["/example.org/corpus/big.jsonl"] = 300_000
    catalog = write_catalog(tmp_path / "project", [entry("toy", {"files": [
        {"url": url, "sha256": sha256(payload), "size": len(payload), "local": "data/toy/big.jsonl"}]},
        files={"train": "data/toy/big.jsonl"})])
    cache = tmp_path / "cache"
    first = run_fetch(catalog, cache, "--mirror", f"https://={mirror.base}")
    assert first.exit_code == 1
    assert "interrupted" in first.stderr and "resumes" in first.stderr
    partials = list((cache / "partial").iterdir())
    kept = partials[0].stat().st_size
    assert len(partials) == 1 and 200_000 < kept <= 300_000  # what arrived, to a chunk
    assert partials[0].read_bytes() == payload[:kept]

    second = run_fetch(catalog, cache, "--mirror", f"https://={mirror.base}", "--json")
    assert second.exit_code == 0, second.output
    import json
    assert json.loads(second.stdout)["downloaded_bytes"] == len(payload) - kept
    assert mirror.requests[-1] == ("/example.org/corpus/big.jsonl", f"bytes={kept}-")
    target = tmp_path / "project" / "data" / "toy" / "big.jsonl"
    assert target.read_bytes() == payload
    assert not any((cache / "partial").iterdir())
    load_catalog(catalog)  # the placed file satisfies files:


def test_a_second_fetch_into_one_cache_waits_for_the_first_then_finds_the_file(mirror: Mirror, tmp_path: Path) -> None:
    """Two `curate fetch` sharing a cache: the second waits on the file's lock instead of appending to the
    same partial download; once the first has stored the blob, the second places it without downloading."""
    import fcntl
    import subprocess
    import time

    payload = b'{"text": "shared", "label": "x"}\n' * 1000
    served = tmp_path / "served" / "data.jsonl"
    served.parent.mkdir()
    served.write_bytes(payload)
    url = "https://example.org/corpus/data.jsonl"
    mirror.serve(url, served)
    catalog = write_catalog(tmp_path / "project", [entry("toy", {"files": [
        {"url": url, "sha256": sha256(payload), "local": "data/toy/data.jsonl"}]})])
    cache = tmp_path / "cache"
    key = f"sha256-{sha256(payload)}"
    (cache / "locks").mkdir(parents=True)
    log = tmp_path / "second.err"
    with (cache / "locks" / f"{key}.lock").open("a") as held, log.open("w") as err:
        fcntl.flock(held, fcntl.LOCK_EX)  # the first fetch, mid-download
        second = subprocess.Popen([sys.executable, "-m", "curate", "fetch", "--catalog", str(catalog), "--cache",
                                   str(cache), "--no-progress", "--mirror", f"https://={mirror.base}"],
                                  stdout=subprocess.DEVNULL, stderr=err, env={**os.environ, "PYTHONPATH": str(REPO)})
        deadline = time.monotonic() + 60
        while "waiting for it" not in log.read_text() and second.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert second.poll() is None, log.read_text()
        assert "another curate fetch" in log.read_text() and mirror.requests == []
        (cache / "blobs").mkdir()
        (cache / "blobs" / key).write_bytes(payload)  # the first fetch stores the verified file and ends
        fcntl.flock(held, fcntl.LOCK_UN)
    assert second.wait(timeout=60) == 0, log.read_text()
    assert mirror.requests == []  # the second found the blob ready: nothing downloaded twice
    assert (tmp_path / "project" / "data" / "toy" / "data.jsonl").read_bytes() == payload


def _zip(members: dict[str, bytes], links: dict[str, str] | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
        for name, target in (links or {}).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            archive.writestr(info, target)
    return buffer.getvalue()


def _tar(build: Any) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        build(archive)
    return buffer.getvalue()


def _tar_link(archive: tarfile.TarFile) -> None:
    info = tarfile.TarInfo("corpus/passwd")
    info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
    archive.addfile(info)


def _tar_absolute(archive: tarfile.TarFile) -> None:
    data = b"owned\n"
    info = tarfile.TarInfo("/tmp/curate-fetch-escape.txt")
    info.size = len(data)
    archive.addfile(info, io.BytesIO(data))


def _tar_device(archive: tarfile.TarFile) -> None:
    info = tarfile.TarInfo("corpus/null")
    info.type, info.devmajor, info.devminor = tarfile.CHRTYPE, 1, 3
    archive.addfile(info)


HOSTILE = {
    "zip-slip": (lambda: _zip({"corpus/ok.txt": b"ok", "corpus/../../escape.txt": b"owned"}), "'..'"),
    "zip-link": (lambda: _zip({"corpus/ok.txt": b"ok"}, links={"corpus/passwd": "/etc/passwd"}), "a link"),
    "tar-link": (lambda: _tar(_tar_link), "a link"),
    "tar-absolute": (lambda: _tar(_tar_absolute), "absolute"),
    "tar-device": (lambda: _tar(_tar_device), "device file"),
    "zip-bomb": (lambda: _zip({"corpus/zeros.txt": bytes(8 << 20)}), "exceed"),
}


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_hostile_archive_is_refused_and_nothing_escapes(kind: str, mirror: Mirror, tmp_path: Path) -> None:
    build, reason = HOSTILE[kind]
    data = build()
    served = tmp_path / "served" / "corpus.bin"
    served.parent.mkdir()
    served.write_bytes(data)
    url = "https://example.org/corpus.bin"
    mirror.serve(url, served)
    project = tmp_path / "a" / "b" / "project"
    catalog = write_catalog(project, [entry("toy", {"files": [
        {"url": url, "sha256": sha256(data), "members": ["*"], "local": "data/toy"}]})])
    cache = tmp_path / "a" / "b" / "cache"
    before = all_files(tmp_path)
    result = run_fetch(catalog, cache, "--mirror", f"https://={mirror.base}", "--max-unpacked", str(1 << 20))
    assert result.exit_code == 1, result.output
    assert "unsafe archive member" in result.stderr and reason in result.stderr and "fix:" in result.stderr
    assert not (project / "data").exists()
    assert not (cache / "unpacked").exists() or not any((cache / "unpacked").iterdir())
    new = all_files(tmp_path) - before
    assert all(p.startswith("a/b/cache") for p in new), new  # only the downloaded archive, in the cache
    assert not Path("/tmp/curate-fetch-escape.txt").exists()


def test_archive_members_are_unpacked_into_the_target_folder(mirror: Mirror, tmp_path: Path) -> None:
    data = _zip({"pkg-1.0/corpus/train.jsonl": b'{"text": "a", "label": "x"}\n', "pkg-1.0/README": b"r"})
    served = tmp_path / "served.zip"
    served.write_bytes(data)
    mirror.serve("https://example.org/pkg.zip", served)
    project = tmp_path / "project"
    catalog = write_catalog(project, [entry("toy", {"files": [
        {"url": "https://example.org/pkg.zip", "sha256": sha256(data), "members": ["pkg-1.0/corpus/*"],
         "strip": "pkg-1.0/corpus/", "local": "data/toy"}]}, files={"train": "data/toy/*.jsonl"})])
    result = run_fetch(catalog, tmp_path / "cache", "--mirror", f"https://={mirror.base}")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (project / "data" / "toy").iterdir()) == ["train.jsonl"]
    assert load_catalog(catalog).available(load_catalog(catalog).dataset("toy"))


def test_agreement_gated_entry_is_refused_then_taken_only_from_the_users_folder(
        mirror: Mirror, tmp_path: Path) -> None:
    data = b'{"text": "note", "label": "x"}\n'
    gated = {"agreement": {"name": "n2c2 data use agreement", "apply_at": "https://portal.dbmi.hms.harvard.edu/"},
             "files": [{"name": "notes.jsonl", "sha256": sha256(data), "local": "data/n2c2/notes.jsonl"}]}
    project = tmp_path / "project"
    catalog = write_catalog(project, [entry("n2c2_toy", gated)])
    cache = tmp_path / "cache"
    refused = run_fetch(catalog, cache)
    assert refused.exit_code == 1
    assert "https://portal.dbmi.hms.harvard.edu/" in refused.stderr and "--accept-license n2c2_toy" in refused.stderr
    assert not (project / "data").exists() and not cache.exists()

    no_folder = run_fetch(catalog, cache, "--accept-license", "n2c2_toy")
    assert no_folder.exit_code == 1 and "--from DIR" in no_folder.stderr

    downloads = tmp_path / "my-downloads"
    downloads.mkdir()
    (downloads / "notes.jsonl").write_bytes(data)
    accepted = run_fetch(catalog, cache, "--accept-license", "n2c2_toy", "--from", str(downloads))
    assert accepted.exit_code == 0, accepted.output
    assert (project / "data" / "n2c2" / "notes.jsonl").read_bytes() == data
    assert mirror.requests == []  # never from the network


def test_offline_with_a_cold_cache_lists_every_missing_file(mirror: Mirror, tmp_path: Path) -> None:
    files = [{"url": f"https://example.org/c/{n}.jsonl", "sha256": sha256(n.encode()), "local": f"data/c/{n}.jsonl"}
             for n in ("a", "b")]
    catalog = write_catalog(tmp_path / "project", [entry("toy", {"files": files})])
    result = run_fetch(catalog, tmp_path / "cache", "--offline", "--mirror", f"https://={mirror.base}")
    assert result.exit_code == 1
    assert "data/c/a.jsonl" in result.stderr and "data/c/b.jsonl" in result.stderr
    assert "without --offline" in result.stderr
    assert mirror.requests == [] and not (tmp_path / "project" / "data").exists()


def test_dry_run_lists_files_and_sizes_and_writes_nothing(mirror: Mirror, tmp_path: Path) -> None:
    served = tmp_path / "served.bin"
    served.write_bytes(bytes(4321))
    mirror.serve("https://example.org/c/b.bin", served)
    files = [{"url": "https://example.org/c/a.jsonl", "sha256": sha256(b"a"), "size": 1234, "local": "data/a.jsonl"},
             {"url": "https://example.org/c/b.bin", "sha256": sha256(bytes(4321)), "local": "data/b.bin"}]
    catalog = write_catalog(tmp_path / "project", [entry("toy", {"files": files})])
    result = run_fetch(catalog, tmp_path / "cache", "--dry-run", "--mirror", f"https://={mirror.base}")
    assert result.exit_code == 0, result.output
    assert "would download" in result.stdout and "1,234" in result.stdout  # the catalog's size
    assert "4,321" in result.stdout  # the size the server announces
    assert all_files(tmp_path) == {"project", "project/catalog.yaml", "served.bin"}
    assert [method_path for method_path, _ in mirror.requests] == ["/example.org/c/b.bin"]


def test_a_bad_source_fails_fast_naming_the_key(tmp_path: Path) -> None:
    catalog = write_catalog(tmp_path, [entry("toy", {"files": [
        {"github": "owner/repo", "path": "a.txt", "git_blob": "0" * 40, "local": "data/a.txt"}]})])
    with pytest.raises(CatalogError, match=r"datasets\[0\] \(toy\)\.source.*commit"):
        load_catalog(catalog, check_files=False)
    result = run_fetch(catalog, tmp_path / "cache")
    assert result.exit_code == 1 and "fix:" in result.stderr


# --- the parts ----------------------------------------------------------------------------------------------------


def test_git_blob_ids_and_mirrors(tmp_path: Path) -> None:
    file = tmp_path / "hello"
    file.write_bytes(b"hello\n")
    assert digests(file)[1] == "ce013625030ba8dba906f756967f9e9ca394464a"  # `git hash-object` of "hello\n"
    mirrors = {"https://": "http://m/", "https://raw.githubusercontent.com/": "http://gh/"}
    assert apply_mirrors("https://raw.githubusercontent.com/o/r/c/p", mirrors) == "http://gh/o/r/c/p"
    assert apply_mirrors("https://example.org/x", mirrors) == "http://m/example.org/x"
    assert apply_mirrors("hf://datasets/x", mirrors) == "hf://datasets/x"
    assert apply_mirrors("https://example.org/x", {"https://example.org/": str(tmp_path)}) == \
        (tmp_path / "x").as_uri()


def test_taiyi_catalog_carries_the_upstream_sources_of_the_shared_corpora(shared_datasets: Path) -> None:
    """Sources from SOURCE.md (repository, commit, path, blob); n2c2 entries refused without an agreement."""
    catalog = load_catalog(REPO / "catalogs" / "taiyi.yaml")
    bc5cdr = catalog.dataset("bc5cdr")
    assert bc5cdr.source is not None
    train = next(f for f in bc5cdr.source.files if f.local.endswith("CDR_TrainingSet.PubTator.txt"))
    assert (train.github, train.commit, train.git_blob) == (
        "cryptoradon/biomedRelExt", "3f113ff1aefd03b7ecf053a6bc33cc6a75532f20",
        "aa3857f8da3e6d3b395055f81a433112d7d49629")
    assert train.upstream == ("https://raw.githubusercontent.com/cryptoradon/biomedRelExt/3f113ff1aefd03b7ecf053a6bc"
                              "33cc6a75532f20/CDR_Data/CDR.Corpus.v010516/CDR_TrainingSet.PubTator.txt")
    # a file that SOURCE.md calls complete has, as served, the upstream blob id the catalog keeps
    dev = next(f for f in bc5cdr.source.files if f.local.endswith("CDR_DevelopmentSet.PubTator.txt"))
    assert digests(shared_datasets / "bc5cdr" / "CDR_DevelopmentSet.PubTator.txt")[1] == dev.git_blob
    with_source = {d.name for d in catalog.datasets if d.source is not None and d.source.files}
    assert len(with_source) >= 40
    gated = {d.name for d in catalog.datasets if d.source is not None and d.source.agreement is not None}
    # n2c2 entries, and the corpora behind a registration (Tianchi, PhysioNet), list no file to download
    assert {"n2c2_2006_deid", "emrqa", "mimicause", "chip_sts", "cmedcausal"} <= gated
    assert not gated & with_source
    assert not [d.name for d in catalog.datasets if d.name in with_source and d.license == "unknown"
                and not (d.source is not None and d.source.unverified)]
    # a corpus we do not hold: its homepage's files, unverified, placed under ../data/<entry name>
    unheld = [d for d in catalog.datasets if d.source is not None and d.source.unverified]
    assert len(unheld) > 50
    misplaced = [(d.name, f.local) for d in unheld for f in d.source.files  # type: ignore[union-attr]
                 if not f.unverified or Path(f.local).parts[:3] != ("..", "data", d.name)]
    assert not misplaced
    biosses = catalog.dataset("biosses")  # not held: the homepage's file, unverified
    assert biosses.source is not None and biosses.source.unverified
    assert biosses.source.files[0].url == "hf://datasets/bigscience-biomedical/biosses/annotation_pairs_scores.tsv"
    assert all(f.unverified for f in biosses.source.files)
    refused = run_fetch(REPO / "catalogs" / "taiyi.yaml", Path("/nonexistent-cache"), "--dataset", "n2c2_2006_deid")
    assert refused.exit_code == 1 and "apply at https://portal.dbmi.hms.harvard.edu/" in refused.stderr


def test_cache_defaults_to_the_users_cache_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from curate.fetch import default_cache_dir

    monkeypatch.delenv("CURATE_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert default_cache_dir() == tmp_path / "curate" / "fetch"
    monkeypatch.setenv("CURATE_CACHE", str(tmp_path / "elsewhere"))
    assert default_cache_dir() == tmp_path / "elsewhere"
    assert os.environ["CURATE_CACHE"]


def test_an_unpacked_repository_folder_is_checked_against_its_git_tree(mirror: Mirror, tmp_path: Path) -> None:
    """A GitHub archive is not byte-stable, so a folder source is verified by the git tree id SOURCE.md records."""
    import subprocess

    repo = tmp_path / "repo"
    (repo / "corpus" / "sub").mkdir(parents=True)
    (repo / "corpus" / "a.txt").write_bytes(b"alpha\n")
    (repo / "corpus" / "sub" / "b.ann").write_bytes(b"T1\tGene 0 5\talpha\n")
    (repo / "corpus" / "run.sh").write_bytes(b"#!/bin/sh\n")
    (repo / "corpus" / "run.sh").chmod(0o755)
    git = ["git", "-C", str(repo), "-c", "user.email=t@t", "-c", "user.name=t"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "."], check=True)
    tree = subprocess.run([*git, "write-tree"], check=True, capture_output=True, text=True).stdout.strip()
    corpus_tree = subprocess.run([*git, "ls-tree", tree, "corpus"], check=True, capture_output=True,
                                 text=True).stdout.split()[2]

    def add_repo(archive: tarfile.TarFile) -> None:
        archive.add(repo / "corpus", arcname="repo-abc/corpus")
    data = _tar(add_repo)
    served = tmp_path / "repo.tar"
    served.write_bytes(data)
    url = "https://codeload.github.com/o/repo/tar.gz/abc"
    mirror.serve(url, served)
    for expected, code in ((corpus_tree, 0), ("0" * 40, 1)):
        project = tmp_path / f"project-{code}"
        catalog = write_catalog(project, [entry("toy", {"files": [
            {"url": url, "git_tree": expected, "members": ["repo-abc/corpus/*"], "strip": "repo-abc/corpus/",
             "local": "data/toy"}]})])
        result = run_fetch(catalog, tmp_path / f"cache-{code}", "--mirror", f"https://={mirror.base}")
        assert result.exit_code == code, result.output
        if code:
            assert f"expected git tree {'0' * 40}, got {corpus_tree}" in result.stderr
            assert not (project / "data").exists()
        else:
            assert (project / "data" / "toy" / "sub" / "b.ann").read_bytes() == b"T1\tGene 0 5\talpha\n"


def test_a_folder_mirror_is_read_through_fsspec(tmp_path: Path) -> None:
    mirror_dir = tmp_path / "mirror" / "example.org"
    mirror_dir.mkdir(parents=True)
    (mirror_dir / "a.jsonl").write_bytes(b'{"text": "a", "label": "x"}\n')
    catalog = write_catalog(tmp_path / "project", [entry("toy", {"files": [
        {"url": "https://example.org/a.jsonl", "sha256": sha256(b'{"text": "a", "label": "x"}\n'),
         "local": "data/a.jsonl"}]})])
    result = run_fetch(catalog, tmp_path / "cache", "--mirror", f"https://={tmp_path / 'mirror'}/")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "project" / "data" / "a.jsonl").read_bytes() == b'{"text": "a", "label": "x"}\n'


def test_sources_that_do_not_give_what_files_expect_are_reported(mirror: Mirror, tmp_path: Path) -> None:
    served = tmp_path / "a.jsonl"
    served.write_bytes(b'{"text": "a", "label": "x"}\n')
    mirror.serve("https://example.org/a.jsonl", served)
    catalog = write_catalog(tmp_path / "project", [entry("toy", {"files": [
        {"url": "https://example.org/a.jsonl", "sha256": sha256(served.read_bytes()), "local": "data/a.jsonl"}]},
        files={"train": "data/b.jsonl"})])
    result = run_fetch(catalog, tmp_path / "cache", "--mirror", f"https://={mirror.base}")
    assert result.exit_code == 1 and "match the files: patterns" in result.stderr


def test_the_shared_sources_catalog_matches_shared_yaml_and_the_corpora(
        shared_datasets: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """tests/catalogs/shared_sources.yaml is written from shared.yaml and the served files; when either changes,
    this says how to rewrite it (instead of the fetch test failing on a count)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("catalog_sources", REPO / "catalogs" / "catalog_sources.py")
    assert spec is not None and spec.loader is not None
    tool = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "catalog_sources", tool)  # (its dataclasses look their module up)
    spec.loader.exec_module(tool)
    monkeypatch.setattr(tool, "SHARED", shared_datasets)
    fresh = tmp_path / "shared_sources.yaml"
    tool.write_test_catalog(REPO / "tests" / "catalogs" / "shared.yaml", fresh)
    assert fresh.read_text(encoding="utf-8") == SOURCES_CATALOG.read_text(encoding="utf-8"), \
        "tests/catalogs/shared_sources.yaml is stale: run `python catalogs/catalog_sources.py tests`"
